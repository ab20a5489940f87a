"""Validates rendered Kubernetes manifests (YAML on stdin) against the Kubernetes OpenAPI
schemas of one version, strictly (unknown fields fail), and prints the objects as one JSON
list on stdout for the caller's own checks.

usage: validate.py KUBERNETES_VERSION [SKIPPED_API_GROUP ...]

Objects of the named API groups (custom resources, e.g. cert-manager.io, which have no
schema in the Kubernetes one) are not validated; everything else must validate. Exit status
1 with the failures on stderr if any object fails.
"""

import json
import sys

import kubernetes_validate
import yaml


def main():
    version, skipped = sys.argv[1], set(sys.argv[2:])
    objects = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
    failures = []
    for obj in objects:
        what = "%s/%s" % (obj.get("kind"), obj.get("metadata", {}).get("name"))
        group = obj.get("apiVersion", "").rpartition("/")[0]
        if group in skipped:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            failures.append("%s: %s at %s" % (what, e.message, "/".join(map(str, e.path))))
        except Exception as e:  # no schema for the kind, malformed object, ...
            failures.append("%s: %s: %s" % (what, type(e).__name__, e))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    json.dump(objects, sys.stdout)


if __name__ == "__main__":
    main()
