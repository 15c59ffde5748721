"""The hyperparameters section as rl_nexus's hp_handler reads it: text, line by line, before YAML.

rl_nexus (utils/hp_handler.py, HyperparameterHandler.split_spec / parse_hp_section / Hparam) takes the section
from the line starting `hyperparameters:` to the first line whose first character is not a space, `-`, `#` or a
newline, and wants each hyperparameter as exactly three lines: `- name: &anchor`, `ordered_tuning_values: [...]`
(or `unordered_tuning_values:`) with the list on that one line, and `tuned_value: v`. Anything else raises
SyntaxError in every run. The tuned value is the second whitespace-separated word of its line, converted by
`python_value_from_yaml` (null, true/false, int, float, else the text) and written back into the YAML by
`format_chosen_value`; so `1e1` is the float 10.0, and `[64, 64]` (with a space) leaves `[64,` in the YAML,
which does not parse. This module says where a runspec breaks those rules and what value hp_handler takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_VALUE_KEYS = ("ordered_tuning_values:", "unordered_tuning_values:")


@dataclass
class HpLineProblem:
    line: int  # 1-based
    col: int
    message: str
    hint: str


@dataclass
class HpLineEntry:
    name: str
    line: int  # of `- name: &anchor`
    tuned_text: str  # the word hp_handler reads as the tuned value
    tuned_line: int


def python_value_from_yaml(text: str) -> Any:
    """hp_handler.Hparam.python_value_from_yaml, verbatim in behaviour."""
    if text == "null":
        return None
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def coerce_like_hp_handler(value: Any) -> Any:
    """A plain YAML scalar as hp_handler would turn it into a Python value: PyYAML reads `1e1` as a string,
    hp_handler as the float 10.0. Lists are kept (their items converted the same way)."""
    if isinstance(value, str):
        return python_value_from_yaml(value)
    if isinstance(value, list):
        return [coerce_like_hp_handler(v) for v in value]
    return value


def tuned_value_as_rl_nexus_reads_it(word: str) -> tuple[bool, Any]:
    """(parses, value): the tuned value after hp_handler wrote its chosen-value line back into the YAML."""
    import yaml

    value = python_value_from_yaml(word)
    if isinstance(value, float):  # yaml_value_from_python: repr, with '1e-05' style fixed to '1.0e-05'
        text = f"{value}"
        if len(text) > 1 and text[1] == "e":
            text = text.replace("e", ".0e")
    elif value is True or value is False or value is None:
        text = {True: "true", False: "false", None: "null"}[value]
    else:
        text = str(value)
    try:
        return True, yaml.safe_load(text)
    except yaml.YAMLError:
        return False, None


def scan(lines: list[str]) -> tuple[list[HpLineEntry], list[HpLineProblem]]:
    """The hyperparameter entries and the problems hp_handler would raise SyntaxError for."""
    entries: list[HpLineEntry] = []
    problems: list[HpLineProblem] = []
    in_section = False
    state = 0
    name_line = (0, "")
    for no, full in enumerate(lines, 1):
        if not in_section:
            if full.startswith("hyperparameters:"):
                in_section = True
            continue
        if full and full[0] not in " -#\n\r":
            break
        line = full.strip()
        if not line or line[0] == "#":
            continue
        col = len(full) - len(full.lstrip()) + 1
        if state == 0:
            if line.startswith("- name:"):
                name_line = (no, line)
                state = 1
            else:
                problems.append(HpLineProblem(no, col, "rl_nexus reads each hyperparameter as three lines; this "
                                              "line should start a new one with '- name: &anchor'",
                                              _FORM_HINT))
                break
        elif state == 1:
            if line.startswith(_VALUE_KEYS):
                if "[" not in line or "]" not in line:
                    problems.append(HpLineProblem(no, col, "rl_nexus reads the tuning values from this one line: "
                                                  "write them as a '[...]' list here", _FORM_HINT))
                    break
                state = 2
            else:
                problems.append(HpLineProblem(no, col, "the second line of a hyperparameter must be "
                                              "'ordered_tuning_values: [...]' or 'unordered_tuning_values: [...]' "
                                              "(rl_nexus's hp_handler raises SyntaxError here)", _FORM_HINT))
                break
        else:
            if line.startswith("tuned_value:"):
                parts = line.split()
                parts_name = name_line[1].split()
                name = parts_name[2][1:] if len(parts_name) > 2 and parts_name[2].startswith("&") else ""
                if len(parts) < 2:
                    problems.append(HpLineProblem(no, col, "rl_nexus reads the tuned value from this line, and "
                                                  "there is none", _FORM_HINT))
                    break
                entries.append(HpLineEntry(name, name_line[0], parts[1], no))
                state = 0
            else:
                problems.append(HpLineProblem(no, col, "the third line of a hyperparameter must be "
                                              "'tuned_value: v' (rl_nexus's hp_handler raises SyntaxError here)",
                                              _FORM_HINT))
                break
    return entries, problems


_FORM_HINT = ("write '- name: &lr', then 'ordered_tuning_values: [1.0e-4, 2.5e-4]' on one line, then "
              "'tuned_value: 2.5e-4'")
