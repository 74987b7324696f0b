"""Write the linkname(1) manual page (roff) from the command's own parser.

    python scripts/manpage.py PACKAGE_DIR DATE > linkname.1

PACKAGE_DIR holds the ``linkname`` package (the directory that contains
``linkname/cli.py``).  The page is made from ``linkname.cli.build_parser()``,
so every command and option the command has is on it, with its help text;
the FILES and SEE ALSO sections are the package's.  scripts/package runs it.
"""

from __future__ import annotations

import argparse
import sys

FILES = [
    (
        "/etc/linkname/linkname.toml",
        "Settings of the daemon (TOML): name, interfaces, exclude, interval, "
        "key_file, details, runtime_dir. Command-line flags override it; "
        "systemctl reload linkname applies an edited file.",
    ),
    (
        "/run/linkname/",
        "Runtime directory of the daemon: its control socket, which the other "
        "commands use while it runs, and the neighbour table.",
    ),
    (
        "/var/lib/linkname/host-id.json",
        "The host ID, kept across restarts (the service's state directory).",
    ),
]


def roff(text: str) -> str:
    """Text made safe for roff: backslashes, leading dots and quotes, dashes."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line
        for line in text.splitlines()
    )


def _option_names(action: argparse.Action) -> str:
    names = ", ".join(f"\\fB{roff(o)}\\fR" for o in action.option_strings)
    if action.metavar is not None:
        metavar = str(action.metavar)
    elif action.nargs == 0:
        metavar = ""
    else:
        metavar = action.dest.upper()
    if action.option_strings and metavar and action.nargs != 0:
        names += f" \\fI{roff(metavar)}\\fR"
    if not action.option_strings:
        names = f"\\fI{roff(metavar or action.dest)}\\fR"
    return names


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    formatter = parser._get_formatter()
    return formatter._expand_help(action)


def _options(parser: argparse.ArgumentParser) -> list[str]:
    out: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        out += [".TP", _option_names(action), roff(_help(parser, action))]
    return out


def manpage(parser: argparse.ArgumentParser, version: str, date: str) -> str:
    """The whole page."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help or "" for c in sub._choices_actions}
    out = [
        f'.TH LINKNAME 1 "{date}" "linkname {roff(version)}" "User Commands"',
        ".SH NAME",
        "linkname \\- announce and find hosts by name on the local link",
        ".SH SYNOPSIS",
        "\\fBlinkname\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        roff(parser.description or ""),
        ".PP",
        "Each command prints its own help with \\fBlinkname\\fR "
        "\\fICOMMAND\\fR \\fB\\-\\-help\\fR. Exit status: 0 success, 1 the "
        "name was not found, 2 a usage or setup error (one line on standard "
        "error).",
        ".SH OPTIONS",
        ".TP",
        "\\fB\\-h\\fR, \\fB\\-\\-help\\fR",
        "Show the help and exit.",
        *_options(parser),
        ".SH COMMANDS",
    ]
    for name, command in sub.choices.items():
        out += [f".SS {roff(name)}", roff(helps.get(name, "")), *_options(command)]
    out.append(".SH FILES")
    for path, text in FILES:
        out += [".TP", f"\\fI{roff(path)}\\fR", roff(text)]
    out += [
        ".SH SEE ALSO",
        "\\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1), \\fBnsswitch.conf\\fR(5)",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    """Print the page for the package in argv[1], dated argv[2]."""
    package_dir, date = sys.argv[1], sys.argv[2]
    sys.path.insert(0, package_dir)
    from linkname import __version__
    from linkname.cli import build_parser

    sys.stdout.write(manpage(build_parser(), __version__, date))


if __name__ == "__main__":
    main()
