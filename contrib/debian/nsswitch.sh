# linkname's edits of the hosts: line of /etc/nsswitch.conf (POSIX sh, awk).
# scripts/package pastes this file into postinst and postrm when the package
# ships the NSS module; tests/packaging runs it against sample files.
#
#   linkname_nss_add [FILE]     "hosts: files dns" -> "hosts: files linkname dns"
#                               (after "files" and its [action], else first);
#                               nothing if the word is there or there is no
#                               hosts: line (glibc's built-in default applies).
#   linkname_nss_remove [FILE]  drops the word "linkname" (and its [action]).
# Comments, spacing and the other services are kept; the file is replaced
# atomically, with its owner and mode, and a symlink is followed.  (The awk
# program spells the [action] pattern in a quoted string: lintian's bashism
# check skips quoted text, and would take a bare one for the shell's "[[".)

linkname_nss_edit() {  # linkname_nss_edit add|remove FILE
    _ln_file=$2
    [ -L "$_ln_file" ] && _ln_file=$(readlink -f "$_ln_file")
    [ -f "$_ln_file" ] || return 0
    _ln_new="$_ln_file.linkname-new"
    awk -v mode="$1" '
    BEGIN { action = "\\[[^]]*]" }  # "[NOTFOUND=return]" (a string: see below)
    /^[ \t]*hosts:/ {
        body = $0; comment = ""
        i = index(body, "#")
        if (i > 0) { comment = substr(body, i); body = substr(body, 1, i - 1) }
        if (body ~ /hosts:[^ \t]/) sub(/hosts:/, "hosts: ", body)  # "hosts:files"
        if (mode == "add") {
            if (body ~ /[ \t]linkname([ \t]|\[|$)/) { print; next }
            if (match(body, /[ \t]files([ \t]|\[|$)/)) {
                pre = substr(body, 1, RSTART + 5); post = substr(body, RSTART + 6)
            } else {
                match(body, /hosts:/)
                pre = substr(body, 1, RSTART + 5); post = substr(body, RSTART + 6)
            }
            if (match(post, "^[ \t]*" action)) {  # keep "files [action]" together
                pre = pre substr(post, 1, RLENGTH); post = substr(post, RLENGTH + 1)
            }
            if (post != "" && post !~ /^[ \t]/) post = " " post
            print pre " linkname" post comment
            next
        }
        changed = 0
        while (match(body, "[ \t]+linkname([ \t]*" action ")?([ \t]|$)")) {
            tail = substr(body, RSTART + RLENGTH - 1, 1)
            keep = (tail == " " || tail == "\t") ? tail : ""
            body = substr(body, 1, RSTART - 1) keep substr(body, RSTART + RLENGTH)
            changed = 1
        }
        if (!changed) { print; next }
        print body comment
        next
    }
    { print }
    ' "$_ln_file" >"$_ln_new" || { rm -f "$_ln_new"; return 1; }
    if cmp -s "$_ln_file" "$_ln_new"; then
        rm -f "$_ln_new"
        return 0
    fi
    chown --reference="$_ln_file" "$_ln_new" 2>/dev/null || true
    chmod --reference="$_ln_file" "$_ln_new"
    mv -f "$_ln_new" "$_ln_file"
}

linkname_nss_add() { linkname_nss_edit add "${1:-/etc/nsswitch.conf}"; }
linkname_nss_remove() { linkname_nss_edit remove "${1:-/etc/nsswitch.conf}"; }
