"""Scenarios: TOML files a user can copy and edit, validated against the model's parameters.

A scenario file has a ``description`` and tables named after the model's parameter groups
(``[users]``, ``[spaces]``, ``[policy]``, ``[hosting]``, ``[rooms]``, ``[tickets]``). Anything
not set keeps its default. ``--set table.field=value`` overrides a single value. An unknown
table or field, or a value of the wrong type or range, is a :class:`ScenarioError` naming it.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from sim.hosts import HostingParams
from sim.policy import PolicyParams
from sim.rooms import RoomParams
from sim.rules.tickets import TicketParams
from sim.users import SpacesParams, UserParams
from spaces_core.errors import SpacesLabError

PARAM_GROUPS: dict[str, type[Any]] = {
    "users": UserParams,
    "spaces": SpacesParams,
    "policy": PolicyParams,
    "hosting": HostingParams,
    "rooms": RoomParams,
    "tickets": TicketParams,
}
USER_SCENARIO_DIR = Path("scenarios")


class ScenarioError(SpacesLabError, ValueError):
    """A bad scenario name, key or value; the message names it in one line (still a
    ``ValueError`` for callers that catch those)."""


@dataclass(frozen=True)
class Scenario:
    """A named, fully resolved set of model parameters."""

    name: str
    description: str
    users: UserParams = field(default_factory=UserParams)
    spaces: SpacesParams = field(default_factory=SpacesParams)
    policy: PolicyParams = field(default_factory=PolicyParams)
    hosting: HostingParams = field(default_factory=HostingParams)
    rooms: RoomParams = field(default_factory=RoomParams)
    tickets: TicketParams = field(default_factory=TicketParams)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        for group in PARAM_GROUPS:
            out[group] = {
                k: (v.isoformat() if isinstance(v, date) else v)
                for k, v in dataclasses.asdict(getattr(self, group)).items()
            }
        return out


def _packaged() -> dict[str, Path]:
    folder = resources.files("sim") / "scenarios"
    return {
        Path(str(entry)).stem: Path(str(entry))
        for entry in folder.iterdir()
        if str(entry).endswith(".toml")
    }


def available() -> dict[str, Path]:
    """Scenario name -> file: packaged ones, then any in ./scenarios/ (which may shadow them)."""
    found = _packaged()
    if USER_SCENARIO_DIR.is_dir():
        found.update({p.stem: p for p in sorted(USER_SCENARIO_DIR.glob("*.toml"))})
    return dict(sorted(found.items()))


def describe_all() -> list[tuple[str, str, Path]]:
    """(name, one-line description, file) for every available scenario."""
    rows = []
    for name, path in available().items():
        try:
            description = str(_read_toml(path).get("description", "")).strip().splitlines()[0]
        except (ScenarioError, IndexError):
            description = "(unreadable)"
        rows.append((name, description, path))
    return rows


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: not valid TOML ({error})") from error
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read ({error.strerror})") from error


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Convert a TOML or command-line value to the field's declared type, or fail naming key."""
    target = annotation
    if isinstance(annotation, types.UnionType):
        target = next(a for a in typing.get_args(annotation) if a is not type(None))
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            raise ValueError
        if target is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if target is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if target is date:
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if target is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        raise ScenarioError(f"{key}: unsupported field type {annotation}")
    name = getattr(target, "__name__", str(target))
    raise ScenarioError(f"{key}: expected {name}, got {value!r}")


def _build_group(group: str, values: Mapping[str, Any]) -> Any:
    cls = PARAM_GROUPS[group]
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ScenarioError(
                f"unknown key '{group}.{key}' (known in [{group}]: {', '.join(sorted(known))})"
            )
        kwargs[key] = _coerce(f"{group}.{key}", value, hints[key])
    try:
        built = cls(**kwargs)
        validate = getattr(built, "validate", None)
        if validate is not None:
            validate()
    except ValueError as error:
        raise ScenarioError(str(error)) from error
    return built


def parse_overrides(pairs: Iterable[str]) -> dict[str, dict[str, str]]:
    """``["rooms.audience_scale=0.5", ...]`` -> ``{"rooms": {"audience_scale": "0.5"}}``."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        group, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ScenarioError(
                f"--set {pair!r}: expected table.field=value, e.g. tickets.store_fee=0.15"
            )
        if group not in PARAM_GROUPS:
            raise ScenarioError(
                f"unknown key '{key.strip()}' (tables: {', '.join(PARAM_GROUPS)})"
            )
        out.setdefault(group, {})[name] = value.strip()
    return out


def resolve_path(name_or_path: str) -> Path:
    """A scenario name (packaged or in ./scenarios/) or a path to a TOML file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_file():
        if not candidate.is_file():
            raise ScenarioError(f"scenario file {candidate} does not exist")
        return candidate
    known = available()
    if name_or_path not in known:
        raise ScenarioError(
            f"unknown scenario '{name_or_path}' (known: {', '.join(known)}; or give a .toml path)"
        )
    return known[name_or_path]


def load(name_or_path: str = "baseline", overrides: Mapping[str, Mapping[str, Any]] | None = None
         ) -> Scenario:
    """Resolve a scenario and apply overrides; raises :class:`ScenarioError` on bad input."""
    path = resolve_path(name_or_path)
    raw = _read_toml(path)
    return from_mapping(raw, default_name=path.stem, overrides=overrides)


def from_mapping(raw: Mapping[str, Any], default_name: str = "custom",
                 overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Scenario:
    """Build a scenario from a parsed TOML mapping plus overrides."""
    tables: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if key in ("name", "description"):
            continue
        if key not in PARAM_GROUPS or not isinstance(value, Mapping):
            raise ScenarioError(f"unknown key '{key}' (tables: {', '.join(PARAM_GROUPS)})")
        tables[key] = dict(value)
    for group, values in (overrides or {}).items():
        if group not in PARAM_GROUPS:
            raise ScenarioError(f"unknown key '{group}' (tables: {', '.join(PARAM_GROUPS)})")
        tables.setdefault(group, {}).update(values)
    groups = {group: _build_group(group, tables.get(group, {})) for group in PARAM_GROUPS}
    return Scenario(
        name=str(raw.get("name", default_name)),
        description=str(raw.get("description", "")).strip(),
        **groups,
    )
