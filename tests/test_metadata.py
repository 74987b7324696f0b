"""The integration's metadata files agree with each other and with the code.

hassfest (Home Assistant's validator, run on custom integrations with
``--integration-path``) and the HACS action check these files, but neither is
part of this repository's test run.  These tests keep the same facts honest on
every run: manifest keys and order, hacs.json, the brand images, strings.json
== translations/en.json, every action with texts and an icon, every
translation key the code uses (entities, exceptions, repair issues, config
flow errors and aborts, form fields) present in strings.json and nothing
stale there, and quality_scale.yaml listing every rule hassfest knows.
"""

from __future__ import annotations

import ast
import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import homeassistant.components
import ifaddr
import pytest
import yaml
from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant.components.brands.const import ALLOWED_IMAGES
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import Platform
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

import custom_components.linkname
from custom_components.linkname import const, services
from custom_components.linkname.const import DOMAIN, IssueKind
from tests.conftest import make_entry

ROOT = Path(__file__).parents[1]
PACKAGE = Path(custom_components.linkname.__file__).parent
# The integration's own code; protocol/ is the HA-free core (no HA texts).
CODE = sorted(p for p in PACKAGE.glob("*.py"))

# hassfest's quality scale rules for Home Assistant 2026.10
# (script/hassfest/quality_scale.py, ALL_RULES; the same 54 names every
# quality_scale.yaml shipped with homeassistant 2026.10.4 lists).
HASSFEST_RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}

# hassfest manifest.py (custom integrations) and the HACS action
# (custom_components/hacs/utils/validate.py, INTEGRATION_MANIFEST_JSON_SCHEMA).
MANIFEST_REQUIRED = {
    "domain",
    "name",
    "codeowners",
    "documentation",
    "issue_tracker",
    "version",
    "iot_class",
    "integration_type",
    "config_flow",
}
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
INTEGRATION_TYPES = {
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
}
# Always loaded by Home Assistant; hassfest refuses them as dependencies.
CORE_INTEGRATIONS = {"homeassistant", "persistent_notification"}
# HACS_MANIFEST_JSON_SCHEMA (extra keys are refused).
HACS_KEYS = {
    "content_in_root",
    "country",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "persistent_directory",
    "render_readme",
    "zip_release",
    "name",
}
# Home Assistant serves custom_components/<domain>/brand/ images from 2026.3.
BRAND_DIR_SINCE = "2026.3.0"

# hassfest translations.py
RE_TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")
RE_HTML = re.compile(r"<[a-z/!][^>]*>", re.IGNORECASE)
RE_QUOTED_PLACEHOLDER = re.compile(r"'{\w+}'")
RE_PLACEHOLDER = re.compile(r"{(\w+)}")

# -- helpers ---------------------------------------------------------------------------


def load_json(path: Path) -> Any:
    """Parsed JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def strings() -> dict[str, Any]:
    """strings.json of the integration."""
    return load_json(PACKAGE / "strings.json")


def icons() -> dict[str, Any]:
    """icons.json of the integration."""
    return load_json(PACKAGE / "icons.json")


def services_yaml() -> dict[str, Any]:
    """services.yaml of the integration."""
    return yaml.safe_load((PACKAGE / "services.yaml").read_text(encoding="utf-8"))


def parse(path: Path) -> ast.Module:
    """The module's syntax tree."""
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def leaves(tree: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every non-dict value in a nested dict."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, f"{path}.{key}" if path else str(key))
    else:
        yield path, tree


def placeholders(text: str) -> set[str]:
    """Names of the {placeholders} in a translated text."""
    return set(RE_PLACEHOLDER.findall(text))


def module_constants(path: Path) -> dict[str, Any]:
    """Module-level NAME = <literal> (also NAME: Final = <literal>)."""
    found: dict[str, Any] = {}
    for node in parse(path).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            found[target.id] = value.value
    return found


def endpoint_error_codes() -> set[str]:
    """The ``code`` values EndpointError is raised with (protocol/endpoint.py)."""
    path = PACKAGE / "protocol" / "endpoint.py"
    names = module_constants(path)
    codes: set[str] = set()
    for node in ast.walk(parse(path)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "EndpointError"
            and node.args
        ):
            first = node.args[0]
            if isinstance(first, ast.Constant):
                codes.add(first.value)
            elif isinstance(first, ast.Name):
                codes.add(names[first.id])
    assert codes, "no EndpointError found: update this test"
    return codes


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of keyword argument ``name`` of a call, if given."""
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def call_name(call: ast.Call) -> str:
    """f for f(...), attr for x.attr(...)."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def dict_keys(node: ast.expr | None, scope: ast.AST) -> set[str] | None:
    """Literal keys of a dict argument; a name is looked up in ``scope``.

    None when the keys cannot be known statically.
    """
    if isinstance(node, ast.Name):
        for assign in ast.walk(scope):
            if (
                isinstance(assign, ast.Assign)
                and any(
                    isinstance(t, ast.Name) and t.id == node.id for t in assign.targets
                )
                and isinstance(assign.value, ast.Dict)
            ):
                node = assign.value
                break
    if not isinstance(node, ast.Dict):
        return None
    keys = set()
    for key in node.keys:
        if not isinstance(key, ast.Constant):
            return None
        keys.add(key.value)
    return keys


def translation_key_values(node: ast.expr) -> set[str]:
    """The keys a translation_key= expression can take.

    A string, or f"setup_{err.code}" for every EndpointError code.
    """
    if isinstance(node, ast.Constant):
        return {node.value}
    if isinstance(node, ast.JoinedStr):
        literal = "".join(
            part.value for part in node.values if isinstance(part, ast.Constant)
        )
        formatted = [p for p in node.values if isinstance(p, ast.FormattedValue)]
        if (
            len(formatted) == 1
            and isinstance(formatted[0].value, ast.Attribute)
            and formatted[0].value.attr == "code"
        ):
            return {literal + code for code in endpoint_error_codes()}
    raise AssertionError(
        f"translation_key={ast.unparse(node)}: not understood, extend this test"
    )


def functions(tree: ast.Module) -> Iterator[ast.AST]:
    """Every function of a module (for resolving local names)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def translated_raises() -> dict[str, list[set[str] | None]]:
    """Exception translation key -> placeholder names given where raised."""
    used: dict[str, list[set[str] | None]] = {}
    for path in CODE:
        tree = parse(path)
        for function in functions(tree):
            for call in ast.walk(function):
                if not isinstance(call, ast.Call):
                    continue
                if (key := keyword(call, "translation_key")) is None:
                    continue
                if call_name(call) == "async_create_issue":
                    continue  # repair issues: see used_issues()
                given_arg = keyword(call, "translation_placeholders")
                given = set() if given_arg is None else dict_keys(given_arg, function)
                for value in translation_key_values(key):
                    used.setdefault(value, []).append(given)
    return used


def used_issues() -> dict[str, set[str]]:
    """Repair issue translation key -> placeholder names given.

    The coordinator raises every issue through ``_raise_issue(kind, severity,
    **placeholders)``, which always adds ``interface``.
    """
    used: dict[str, set[str]] = {}
    for path in CODE:
        for call in ast.walk(parse(path)):
            if not isinstance(call, ast.Call):
                continue
            if call_name(call) == "_raise_issue":
                kind = call.args[0]
                # IssueKind.X (a StrEnum of const.py) or a literal.
                if isinstance(kind, ast.Attribute):
                    assert isinstance(kind.value, ast.Name), ast.unparse(call)
                    assert kind.value.id == "IssueKind", ast.unparse(call)
                    value = IssueKind[kind.attr].value
                else:
                    assert isinstance(kind, ast.Constant), ast.unparse(call)
                    value = kind.value
                used[value] = {"interface"} | {kw.arg for kw in call.keywords if kw.arg}
            elif call_name(call) == "async_create_issue":
                key = keyword(call, "translation_key")
                if isinstance(key, ast.Constant):
                    given = dict_keys(keyword(call, "translation_placeholders"), call)
                    used[key.value] = given or set()
    return used


def entity_translation_keys() -> dict[tuple[str, str], bool]:
    """(platform, translation key) -> whether the entity takes a name from it.

    An entity with ``_attr_name = None`` is named after its device; its
    translation key is only for icons (and states).
    """
    platforms = {platform.value for platform in Platform}
    found: dict[tuple[str, str], bool] = {}
    for path in CODE:
        if path.stem not in platforms:
            continue
        for cls in ast.walk(parse(path)):
            if not isinstance(cls, ast.ClassDef):
                continue
            attrs: dict[str, Any] = {}
            for node in cls.body:
                target = None
                if isinstance(node, ast.AnnAssign):
                    target, value = node.target, node.value
                elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                    attrs[target.id] = value.value
            if (key := attrs.get("_attr_translation_key")) is not None:
                named = not ("_attr_name" in attrs and attrs["_attr_name"] is None)
                found[(path.stem, key)] = named
    return found


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# -- manifest.json, hacs.json, repository layout, brand --------------------------------


def test_manifest_keys_order_and_values() -> None:
    """What hassfest and HACS require of a custom integration's manifest."""
    raw = (PACKAGE / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(raw)

    assert set(manifest) >= MANIFEST_REQUIRED, MANIFEST_REQUIRED - set(manifest)
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:]), "hassfest: domain, name, then alphabetical"
    assert raw.endswith("}\n")

    assert manifest["domain"] == DOMAIN == PACKAGE.name
    # hassfest's verify_version (raises when no strategy fits), HACS's Coerce
    AwesomeVersion(
        manifest["version"],
        ensure_strategy=[
            AwesomeVersionStrategy.CALVER,
            AwesomeVersionStrategy.SEMVER,
            AwesomeVersionStrategy.SIMPLEVER,
            AwesomeVersionStrategy.BUILDVER,
            AwesomeVersionStrategy.PEP440,
        ],
    )
    for key in ("documentation", "issue_tracker"):
        assert manifest[key].startswith("https://"), key
    assert not manifest["documentation"].startswith(
        "https://www.home-assistant.io/integrations"
    ), "hassfest: a custom integration documents itself"
    assert manifest["codeowners"]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest["iot_class"] in IOT_CLASSES
    assert manifest["integration_type"] in INTEGRATION_TYPES
    assert manifest["config_flow"] is True
    assert (PACKAGE / "config_flow.py").is_file()
    for requirement in manifest.get("requirements", []):
        assert " " not in requirement, requirement


def test_manifest_dependencies_cover_imports() -> None:
    """Dependencies exist, and every imported HA integration is declared.

    hassfest's dependencies plugin: ``homeassistant.components.X`` used by the
    code must be an entity platform or listed in dependencies or
    after_dependencies.
    """
    manifest = load_json(PACKAGE / "manifest.json")
    declared = set(manifest.get("dependencies", [])) | set(
        manifest.get("after_dependencies", [])
    )
    components = Path(homeassistant.components.__file__).parent
    for dep in declared:
        assert (components / dep / "manifest.json").is_file(), f"no integration {dep}"
        assert dep not in CORE_INTEGRATIONS, f"{dep} is always loaded"
    assert not set(manifest.get("dependencies", [])) & set(
        manifest.get("after_dependencies", [])
    )

    # hassfest also allows X when the integration has its own X.py (a platform
    # of X, e.g. diagnostics.py importing homeassistant.components.diagnostics).
    own_platforms = {p.stem for p in PACKAGE.glob("*.py")}
    allowed = declared | {p.value for p in Platform} | CORE_INTEGRATIONS | own_platforms
    used: dict[str, str] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
                if module == "homeassistant.components":
                    for alias in node.names:
                        used[alias.name] = path.name
                elif module.startswith("homeassistant.components."):
                    used[module.split(".")[2]] = path.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("homeassistant.components."):
                        used[alias.name.split(".")[2]] = path.name
    undeclared = {domain: f for domain, f in used.items() if domain not in allowed}
    assert undeclared == {}, "imported but not in dependencies/after_dependencies"


def test_hacs_json_and_repository_layout() -> None:
    """hacs.json keys, one integration under custom_components, a README."""
    hacs = load_json(ROOT / "hacs.json")
    assert set(hacs) <= HACS_KEYS, set(hacs) - HACS_KEYS
    assert isinstance(hacs["name"], str)
    assert hacs.get("render_readme", False) in (True, False)
    assert not hacs.get("zip_release") or hacs.get("filename")
    assert not hacs.get("content_in_root", False)
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum <= AwesomeVersion(HA_VERSION), "tests run on an unsupported HA"
    assert minimum >= AwesomeVersion(BRAND_DIR_SINCE), "brand/ needs HA 2026.3"

    integrations = [
        p.name
        for p in (ROOT / "custom_components").iterdir()
        if p.is_dir() and p.name != "__pycache__"
    ]
    assert integrations == [DOMAIN], "HACS: exactly one integration per repository"
    assert (ROOT / "README.md").is_file(), "HACS: an information file"


def test_brand_images() -> None:
    """The images HA serves from brand/: names, PNG, sizes of the brands rules."""
    brand = PACKAGE / "brand"
    names = {p.name for p in brand.iterdir()}
    assert names <= ALLOWED_IMAGES, names - ALLOWED_IMAGES
    assert {"icon.png", "icon@2x.png"} <= names  # HACS checks brand/icon.png
    for name in names:
        width, height = png_size(brand / name)
        hidpi = "@2x" in name
        if "icon" in name:
            assert (width, height) == ((512, 512) if hidpi else (256, 256)), name
        else:  # logo: shortest side 128-256 (256-512 for @2x), max preferred
            low, high = (256, 512) if hidpi else (128, 256)
            assert low <= min(width, height) <= high, name


# -- translations ----------------------------------------------------------------------


def test_english_translation_is_strings_json() -> None:
    """translations/en.json (what HA loads) is strings.json, byte for byte."""
    assert (PACKAGE / "translations" / "en.json").read_bytes() == (
        PACKAGE / "strings.json"
    ).read_bytes()


def test_translation_texts_are_clean() -> None:
    """hassfest's text rules: no HTML, trimmed, no quoted placeholders."""
    for path, text in leaves(strings()):
        assert isinstance(text, str), path
        assert text, path
        assert text == text.strip(), f"{path}: leading or trailing space"
        assert not RE_HTML.search(text), f"{path}: HTML"
        assert not RE_QUOTED_PLACEHOLDER.search(text), f"{path}: '{{x}}'"
        assert "[%key:" not in text, f"{path}: references need strings.json of core"


def test_texts_speak_plainly() -> None:
    """No encoding jargon; no "Optional." under a label that says optional."""
    for path, text in leaves(strings()):
        assert "UTF-8" not in text, path
        assert "bytes" not in text, path
    data = strings()
    for flow in ("config", "options"):
        for step_id, step in data[flow]["step"].items():
            for field, label in step.get("data", {}).items():
                help_text = step.get("data_description", {}).get(field, "")
                if "optional" in label.lower():
                    assert not help_text.lower().startswith("optional"), (
                        f"{flow}.step.{step_id}.{field}"
                    )


def test_translation_keys_are_valid() -> None:
    """Keys of entities, actions, exceptions and issues: [a-z0-9-_], no edges."""
    data = strings()
    keys = [
        *(k for platform in data.get("entity", {}).values() for k in platform),
        *data.get("exceptions", {}),
        *data.get("issues", {}),
        *data.get("services", {}),
        *(
            field
            for service in data.get("services", {}).values()
            for field in service.get("fields", {})
        ),
    ]
    for key in keys:
        assert RE_TRANSLATION_KEY.match(key), key


def test_form_descriptions_only_describe_fields() -> None:
    """hassfest: every data_description key is a field of the step."""
    data = strings()
    for flow in ("config", "options"):
        for step_id, step in data[flow]["step"].items():
            extra = set(step.get("data_description", {})) - set(step.get("data", {}))
            assert not extra, f"{flow}.step.{step_id}: {extra}"


# -- actions ---------------------------------------------------------------------------


def registered_services() -> dict[str, Any]:
    """Action name -> schema, from hass.services.async_register in services.py."""
    found: dict[str, Any] = {}
    for call in ast.walk(parse(PACKAGE / "services.py")):
        if isinstance(call, ast.Call) and call_name(call) == "async_register":
            name = call.args[1]
            schema = keyword(call, "schema")
            assert isinstance(name, ast.Name)
            assert isinstance(schema, ast.Name)
            found[getattr(const, name.id)] = getattr(services, schema.id)
    return found


def schema_fields(schema: Any) -> set[str]:
    """Field names of a probatio/voluptuous dict schema."""
    return {str(getattr(marker, "schema", marker)) for marker in schema.schema}


def test_services_yaml_matches_registered_actions() -> None:
    """services.yaml describes exactly the registered actions and their fields."""
    described = services_yaml()
    registered = registered_services()
    assert set(described) == set(registered)
    for name, schema in registered.items():
        assert set((described[name] or {}).get("fields", {})) == schema_fields(
            schema
        ), name


def test_every_action_has_texts_and_an_icon() -> None:
    """Name and description of each action and field; an mdi icon each."""
    described = services_yaml()
    texts = strings()["services"]
    service_icons = icons()["services"]
    assert set(texts) == set(described), "texts for exactly the actions"
    assert set(service_icons) == set(described), "icons for exactly the actions"
    for name, spec in described.items():
        assert texts[name]["name"], name
        assert texts[name]["description"], name
        fields = set((spec or {}).get("fields", {}))
        assert set(texts[name].get("fields", {})) == fields, name
        for field in fields:
            field_texts = texts[name]["fields"][field]
            assert field_texts["name"], (name, field)
            assert field_texts["description"], (name, field)
        assert service_icons[name]["service"].startswith("mdi:"), name


# -- translation keys used by the code -------------------------------------------------


def test_entity_translation_keys_exist() -> None:
    """Entities' translation keys have a name (or, unnamed, an icon); none stale."""
    used = entity_translation_keys()
    assert used, "no entity translation keys found: update this test"
    names = strings().get("entity", {})
    entity_icons = icons().get("entity", {})
    for (platform, key), named in used.items():
        if named:
            assert names.get(platform, {}).get(key, {}).get("name"), (platform, key)
        else:
            assert key in entity_icons.get(platform, {}), (platform, key)
    in_strings = {(p, k) for p, keys in names.items() for k in keys}
    in_icons = {(p, k) for p, keys in entity_icons.items() for k in keys}
    assert in_strings <= set(used), "stale entity texts"
    assert in_icons <= set(used), "stale entity icons"


def test_entity_icons_are_mdi_and_differ_from_default() -> None:
    """hassfest icons rules: mdi: icons, a state icon never equals the default."""
    for path, icon in leaves(icons()):
        assert isinstance(icon, str), path
        assert icon.startswith("mdi:"), path
    for platform in icons().get("entity", {}).values():
        for key, spec in platform.items():
            for state, icon in spec.get("state", {}).items():
                assert icon != spec.get("default"), (key, state)


def test_exception_translation_keys_exist_with_their_placeholders() -> None:
    """Every translated exception raised has a message with known placeholders."""
    used = translated_raises()
    messages = strings()["exceptions"]
    assert set(used) == set(messages), (
        f"missing: {set(used) - set(messages)}, stale: {set(messages) - set(used)}"
    )
    for key, given_each in used.items():
        needed = placeholders(messages[key]["message"])
        for given in given_each:
            if given is not None:
                assert needed <= given, f"{key}: {needed - given} not given"


def test_repair_issue_translation_keys_exist_with_their_placeholders() -> None:
    """Every repair issue raised has a title and description it can fill."""
    used = used_issues()
    issues = strings()["issues"]
    assert set(used) == set(issues)
    for key, given in used.items():
        for part in ("title", "description"):
            needed = placeholders(issues[key][part])
            assert needed <= given, f"{key}.{part}: {needed - given} not given"


def test_config_flow_errors_and_aborts_exist() -> None:
    """Error and abort reasons the config flow can return have texts."""
    tree = parse(PACKAGE / "config_flow.py")
    errors: set[str] = set()
    aborts: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Subscript)
            and isinstance(node.targets[0].value, ast.Name)
            and node.targets[0].value.id == "errors"
        ):
            if isinstance(node.value, ast.Constant):
                errors.add(node.value.value)
            else:  # errors["base"] = code, an EndpointError code
                errors |= endpoint_error_codes()
        if isinstance(node, ast.Call):
            if call_name(node) == "async_abort":
                reason = keyword(node, "reason")
                assert isinstance(reason, ast.Constant)
                aborts.add(reason.value)
            elif call_name(node) == "_abort_if_unique_id_configured":
                aborts.add("already_configured")
            elif call_name(node) in {
                "async_update_reload_and_abort",
                "async_update_and_abort",
            }:
                aborts.add("reconfigure_successful")
    config = strings()["config"]
    assert errors == set(config["error"])
    assert aborts == set(config["abort"])


# -- the forms, as Home Assistant shows them -------------------------------------------

ADAPTERS = [
    ifaddr.Adapter("eth0", "eth0", [ifaddr.IP(("fe80::1", 0, 2), 64, "eth0")], index=2),
]


def assert_form_translated(
    result: Any, step: dict[str, Any], flow: str, step_id: str
) -> None:
    """Fields labelled; texts' placeholders are given by the form."""
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step_id
    assert set(step["data"]) == schema_fields(result["data_schema"]), (
        f"{flow}.step.{step_id}.data"
    )
    given = set(result.get("description_placeholders") or {})
    for path, text in leaves(step):
        assert placeholders(text) <= given, f"{flow}.step.{step_id}.{path}"


async def test_forms_are_translated(hass: HomeAssistant) -> None:
    """User, reconfigure and options forms: the fields strings.json labels."""
    texts = strings()
    with patch(
        "homeassistant.components.network.util.ifaddr.get_adapters",
        return_value=ADAPTERS,
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
    assert_form_translated(result, texts["config"]["step"]["user"], "config", "user")

    entry = make_entry()
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert_form_translated(
        result, texts["config"]["step"]["reconfigure"], "config", "reconfigure"
    )

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert_form_translated(result, texts["options"]["step"]["init"], "options", "init")
    assert set(texts["config"]["step"]) == {"user", "reconfigure"}
    assert set(texts["options"]["step"]) == {"init"}


# -- quality_scale.yaml ----------------------------------------------------------------


@pytest.fixture
def quality_scale() -> dict[str, Any]:
    """quality_scale.yaml."""
    return yaml.safe_load((PACKAGE / "quality_scale.yaml").read_text(encoding="utf-8"))


def test_quality_scale_lists_every_hassfest_rule(
    quality_scale: dict[str, Any],
) -> None:
    """All 54 rules of hassfest (HA 2026.10), no unknown ones, no others keys."""
    assert set(quality_scale) == {"rules"}
    rules = [rule for tier in HASSFEST_RULES.values() for rule in tier]
    assert len(rules) == len(set(rules)) == 54
    assert set(quality_scale["rules"]) == set(rules), (
        f"missing: {set(rules) - set(quality_scale['rules'])}, "
        f"unknown: {set(quality_scale['rules']) - set(rules)}"
    )


def test_quality_scale_rules_are_done_or_exempt_with_a_reason(
    quality_scale: dict[str, Any],
) -> None:
    """hassfest's schema; and every rule met: done, or exempt with a comment."""
    for rule, value in quality_scale["rules"].items():
        if isinstance(value, str):
            assert value == "done", rule
            continue
        assert set(value) <= {"status", "comment"}, rule
        assert value["status"] in ("done", "exempt"), rule
        if value["status"] == "exempt":
            assert isinstance(value.get("comment"), str), rule
            assert value["comment"].strip(), rule
