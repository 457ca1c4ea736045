"""Validate values.yaml against the Zero to JupyterHub chart's published schema, as Helm does.

    git clone --depth 1 https://github.com/jupyterhub/zero-to-jupyterhub-k8s /tmp/z2jh
    python deploy/k8s/validate_values.py /tmp/z2jh/jupyterhub

Helm merges the user's values into the chart's own ``values.yaml`` and validates the result against
``values.schema.yaml`` (JSON Schema draft 7); this does the same with ``jsonschema``. The chart is
not part of this repository: fetch the version you deploy. Prints each error; exits 1 if any.
"""

import argparse
import sys
from pathlib import Path

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent


def merged(defaults, values):
    """``values`` over ``defaults``, mappings merged key by key (Helm's coalescing of values)."""
    if isinstance(defaults, dict) and isinstance(values, dict):
        return {**defaults, **{k: merged(defaults.get(k), v) for k, v in values.items()}}
    return values


def errors(chart: Path, values_file: Path = HERE / "values.yaml") -> list[str]:
    """Schema errors of ``values_file`` merged into ``chart``'s defaults: ["path: message", ...]."""
    schema = yaml.safe_load((chart / "values.schema.yaml").read_text())
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    values = merged(defaults, yaml.safe_load(values_file.read_text()))
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in validator.iter_errors(values)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Validate values.yaml against the chart's schema.")
    parser.add_argument("chart", type=Path, help="the chart's folder (values.yaml, values.schema.yaml)")
    parser.add_argument("--values", type=Path, default=HERE / "values.yaml")
    args = parser.parse_args(argv)
    found = errors(args.chart, args.values)
    for error in found:
        print(error)
    print(f"{args.values}: {len(found)} schema errors against {args.chart / 'values.schema.yaml'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
