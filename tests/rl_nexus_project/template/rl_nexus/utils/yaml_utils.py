"""Defaults merging and string replacement, with rl_nexus's semantics (exact match keeps the type)."""
import os
import re

import yaml

COMPONENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "components")


def resolve(val, replacements):
    for query, replacement in replacements.items():
        if not isinstance(val, str):
            return val
        if query == val:
            val = replacement
        elif query in val:
            val = val.replace(query, str(replacement))
    if re.search(r"<\w+>", str(val)):
        raise ValueError("Unresolved value in {!r}".format(val))
    return val


def defaults(name):
    category, cname = name.split("/")
    path = os.path.join(COMPONENTS, category, cname + ".yaml") if category == "root" else \
        os.path.join(COMPONENTS, category, cname, cname + ".yaml")
    with open(path) as fh:
        return yaml.safe_load(fh)


def expand(val, replacements):
    if isinstance(val, dict):
        return expand_dict(val, replacements)
    if isinstance(val, list):
        return [expand(v, replacements) for v in val]
    return resolve(val, replacements)


def expand_dict(spec, replacements):
    out = {}
    for key, value in spec.items():
        if key == "component":
            name = resolve(value, replacements)
            out[key] = name
            comp = defaults(name)
            for k in spec:
                if k not in comp and k not in ("hyperparameters", "string_replacements", "forward_definitions"):
                    raise AttributeError("{}.yaml contains no '{}' property.".format(name, k))
            for k, v in comp.items():
                if k not in spec:
                    out[k] = expand(v, replacements)
        else:
            out[key] = expand(value, replacements)
    return out
