#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_package
short_description: Build a reproducible AWS Lambda deployment zip with dependencies for the function's platform
version_added: 0.1.0
description:
  - Builds an AWS Lambda deployment package (a zip) on the host the module runs on, normally the controller,
    from a source directory plus the function's third-party dependencies.
  - Dependencies come from a pip requirements file and are downloaded as binary wheels for the B(function's)
    architecture (O(architecture)) and Python version (O(python_version)), not the controller's, by
    C(pip download) with C(--only-binary=:all:), C(--platform), C(--implementation cp), C(--python-version) and C(--abi).
    Their files, C(*.dist-info) included, are placed at the root of the package as C(pip install --target) would.
  - The zip is reproducible. The same source files, the same requirements (pinned versions) and the same
    options give a byte-identical zip, and so the same SHA-256, on every run and machine. Entries are sorted by
    archive path, every entry has the timestamp 1980-01-01 00:00:00 and the permissions 0644 (0755 for an
    executable file), there are no directory entries, extra fields or comments, and deflate uses a fixed level.
    File modification times, file creation order and the controller's platform do not matter.
  - Because the content is reproducible, the file is content-addressed as C(<dest_dir>/<name>-<sha256 first 16 hex
    digits>.zip). An unchanged build finds its zip already there and reports no change without rewriting it,
    and the S3 object key derived from the file name changes exactly when the code changes.
  - Older zips in O(dest_dir) are left alone; remove them yourself if they are no longer needed.
  - This module only builds. Upload the zip with M(amazon.aws.s3_object) and deploy it with your Lambda or
    CloudFormation tooling.
author:
  - Smart City Platform Team (@smartcity)
options:
  src:
    description:
      - Directory holding the function's source code, for example C(files/lambda/).
      - It must exist and, after O(exclude) is applied, contain at least one C(.py) file.
      - Symlinks to files are followed; symlinked directories are not descended into.
    type: path
    required: true
  dest_dir:
    description:
      - Directory the zip is written to. It is created when missing (not in check mode).
    type: path
    required: true
  name:
    description:
      - Prefix of the zip file name; the file is C(<dest_dir>/<name>-<sha256 first 16 hex digits>.zip).
      - Letters, digits, C(.), C(_) and C(-), starting with a letter or digit.
    type: str
    default: lambda
  requirements:
    description:
      - A pip requirements file listing the function's third-party dependencies.
      - Defaults to C(<src>/requirements.txt) when that file exists; without a requirements file the package
        holds the source only.
      - A file with only blank lines and comments means no dependencies, and pip is not run.
      - Pin every requirement (C(name==version), ideally with C(--hash)); unpinned requirements resolve to
        whatever is newest at build time, and the build is then not reproducible over time.
      - Relative paths inside the file are resolved from the file's directory.
    type: path
  architecture:
    description:
      - Instruction set architecture of the Lambda function; selects the wheels' platform tags.
      - V(arm64) uses C(manylinux2014_aarch64) and C(manylinux_2_28_aarch64), V(x86_64) uses
        C(manylinux2014_x86_64) and C(manylinux_2_28_x86_64). Pure-Python C(py3-none-any) wheels fit both.
    type: str
    choices: [arm64, x86_64]
    default: arm64
  python_version:
    description:
      - Python version of the Lambda runtime, as C(3.X), for example V(3.12) for the C(python3.12) runtime.
      - Selects the wheels' Python and ABI tags (C(cp312) for V(3.12)).
    type: str
    default: '3.12'
  wheel_cache:
    description:
      - Directory where the downloaded wheels are kept per requirements file content, O(architecture) and
        O(python_version), so that an unchanged build runs no pip and needs no network.
      - The cache key is the requirements file's own bytes; a change in a file it includes with C(-r) or
        C(-c) is not noticed. Delete the cache directory to force a new download.
      - Without it, wheels are downloaded to a temporary directory on every run.
      - The cache is filled in check mode too.
    type: path
  exclude:
    description:
      - Glob patterns (C(fnmatch), case-sensitive) of source files and directories to leave out.
      - Each pattern is matched against every path component (directory or file name) and against the whole
        path relative to O(src), with C(/) separators.
      - Applies to O(src) only, not to the dependencies.
    type: list
    elements: str
    default: ['__pycache__', '*.pyc', '*.pyo', 'requirements*.txt', 'tests', '.*']
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the package is built in memory, nothing is written to O(dest_dir) (which is not
        created), and the module returns the RV(path), RV(sha256) and RV(code_sha256) a real run would
        produce. It reports a change exactly when that zip does not exist yet.
      - Dependencies are still downloaded (and O(wheel_cache) filled) so that the checksum is the real one.
  diff_mode:
    support: full
    details:
      - The diff shows the zip path and checksum before (empty when the zip does not exist yet) and after.
  platform:
    support: full
    platforms: posix
notes:
  - Runs C(<python> -m pip download) with the Python interpreter that runs the module, which needs pip. pip's own
    configuration (index URL, proxy, certificates) applies.
  - Byte-identical output also assumes the same deflate implementation; Python's zlib module gives the same
    output on the usual builds, but a Python linked against a different compression library (for example
    zlib-ng) may produce a different, equally valid zip.
  - Files in a wheel's C(.data/scripts), C(.data/headers) and C(.data/data) directories are not packaged;
    C(.data/purelib) and C(.data/platlib) go to the package root. Wheel members with absolute paths or C(..)
    are rejected, and so is a dependency file that has the same path as a source file.
seealso:
  - module: amazon.aws.s3_object
  - name: Lambda deployment packages for Python
    description: AWS documentation on .zip deployment packages with dependencies.
    link: https://docs.aws.amazon.com/lambda/latest/dg/python-package.html
"""

EXAMPLES = r"""
- name: Build the stream processor package for arm64 / python3.12
  smartcity.iot_analytics.lambda_package:
    src: "{{ role_path }}/files/lambda"
    dest_dir: "{{ playbook_dir }}/.build/lambda"
    name: stream-processor
    wheel_cache: "{{ playbook_dir }}/.cache/wheels"
  delegate_to: localhost
  run_once: true
  register: lambda_zip

- name: Upload it under a content-addressed key
  amazon.aws.s3_object:
    bucket: "{{ artifact_bucket }}"
    object: "lambda/{{ lambda_zip.path | basename }}"
    src: "{{ lambda_zip.path }}"
    mode: put
    overwrite: different
  when: not ansible_check_mode

- name: Build for x86_64 / python3.11 with an explicit requirements file and extra excludes
  smartcity.iot_analytics.lambda_package:
    src: src/processor
    dest_dir: /tmp/lambda-build
    requirements: requirements/processor.txt
    architecture: x86_64
    python_version: '3.11'
    exclude:
      - __pycache__
      - '*.pyc'
      - tests
      - '.*'
      - '*.md'
"""

RETURN = r"""
path:
  description:
    - Path of the zip, C(<dest_dir>/<name>-<sha256 first 16 hex digits>.zip).
    - In check mode the path the zip would have; the file is not written.
  returned: success
  type: str
  sample: /home/user/project/.build/lambda/stream-processor-3f1c9a0b7d2e4c58.zip
sha256:
  description: SHA-256 of the zip file's bytes, as hexadecimal.
  returned: success
  type: str
  sample: 3f1c9a0b7d2e4c58a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901234ab
code_sha256:
  description:
    - Base64 of the raw SHA-256 digest of the zip, the value AWS Lambda reports as C(CodeSha256) for a function
      deployed from this zip.
  returned: success
  type: str
  sample: PxyaC30uTFihssPU5fYHGCk6S1xtfo+QEjRWeJASNKs=
size:
  description: Size of the zip in bytes.
  returned: success
  type: int
  sample: 18231
files:
  description: Number of entries (files) in the zip.
  returned: success
  type: int
  sample: 12
dependencies:
  description: File names of the wheels whose files are in the zip, sorted; empty without dependencies.
  returned: success
  type: list
  elements: str
  sample:
    - orjson-3.11.4-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl
"""

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.smartcity.iot_analytics.plugins.module_utils.lambda_zip import (
    DEFAULT_EXCLUDE,
    LambdaZipError,
    ZipMember,
    build_zip,
    collect_source,
    collect_wheel,
    merge_members,
    zip_digests,
)

PLATFORMS = {
    "arm64": ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
    "x86_64": ["manylinux2014_x86_64", "manylinux_2_28_x86_64"],
}
PYTHON_VERSION_RE = re.compile(r"^3\.\d+$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CACHE_FORMAT = "lambda_package-wheels-v1"
CACHE_MANIFEST = "wheels.json"
PIP_TAIL_LINES = 20

ARGUMENT_SPEC = {
    "src": {"type": "path", "required": True},
    "dest_dir": {"type": "path", "required": True},
    "name": {"type": "str", "default": "lambda"},
    "requirements": {"type": "path"},
    "architecture": {"type": "str", "choices": ["arm64", "x86_64"], "default": "arm64"},
    "python_version": {"type": "str", "default": "3.12"},
    "wheel_cache": {"type": "path"},
    "exclude": {"type": "list", "elements": "str", "default": list(DEFAULT_EXCLUDE)},
}


def validate_params(module: AnsibleModule) -> None:
    """Fail with a message naming the option when an option's value cannot be used."""
    src, dest_dir, requirements = module.params["src"], module.params["dest_dir"], module.params["requirements"]
    python_version, name = module.params["python_version"], module.params["name"]
    if not os.path.isdir(src):
        module.fail_json(msg=f"src: {src} does not exist or is not a directory")
    if not PYTHON_VERSION_RE.fullmatch(python_version):
        module.fail_json(msg=f"python_version: {python_version!r} is not a Python 3 version of the form 3.X, for example 3.12")
    if not NAME_RE.fullmatch(name):
        module.fail_json(msg=f"name: {name!r} must be letters, digits, '.', '_' or '-' and start with a letter or digit")
    if os.path.exists(dest_dir) and not os.path.isdir(dest_dir):
        module.fail_json(msg=f"dest_dir: {dest_dir} exists and is not a directory")
    if requirements is not None and not os.path.isfile(requirements):
        module.fail_json(msg=f"requirements: {requirements} does not exist or is not a file")


def requirements_file(src: str, requirements: str | None) -> str | None:
    """The requirements file to use: the option, else ``<src>/requirements.txt`` when it exists."""
    if requirements is not None:
        return requirements
    default = os.path.join(src, "requirements.txt")
    return default if os.path.isfile(default) else None


def has_requirements(content: bytes) -> bool:
    """True unless the requirements file holds only blank lines and comments."""
    for line in content.decode("utf-8", errors="replace").splitlines():
        if re.sub(r"(^|\s)#.*$", "", line).strip():
            return True
    return False


def pip_download_command(python: str, requirements: str, dest: str, architecture: str, python_version: str) -> list[str]:
    """The pip command that downloads wheels for the function's platform (not the controller's)."""
    cmd = [python, "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "--only-binary=:all:"]
    for platform in PLATFORMS[architecture]:
        cmd.extend(["--platform", platform])
    cmd.extend(
        [
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--abi",
            "cp" + python_version.replace(".", ""),
            "--dest",
            dest,
            "-r",
            requirements,
        ]
    )
    return cmd


def output_tail(text: str, lines: int = PIP_TAIL_LINES) -> str:
    """The last non-empty lines of a command's output."""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def run_pip_download(module: AnsibleModule, requirements: str, dest: str) -> None:
    """Download the wheels into ``dest``; fail with pip's reason, the requirements file and the architecture."""
    architecture = module.params["architecture"]
    python_version = module.params["python_version"]
    python = sys.executable
    if not python:
        module.fail_json(msg="cannot find the Python interpreter running this module to run pip with")
    cmd = pip_download_command(python, os.path.abspath(requirements), dest, architecture, python_version)
    rc, out, err = module.run_command(cmd, cwd=os.path.dirname(os.path.abspath(requirements)))
    if rc != 0:
        module.fail_json(
            msg=f"pip download failed for requirements file {requirements} (architecture {architecture}, Python {python_version}, "
            f"rc={rc}): {output_tail(err) or output_tail(out)}",
            cmd=cmd,
            rc=rc,
            stdout=out,
            stderr=err,
        )


def list_wheels(module: AnsibleModule, directory: str) -> list[str]:
    """The wheel file names in a download directory; anything else pip left there is an error."""
    names = sorted(os.listdir(directory))
    others = [n for n in names if not n.endswith(".whl") and n != CACHE_MANIFEST]
    if others:
        module.fail_json(msg=f"pip download left files that are not wheels: {', '.join(others)}")
    return [n for n in names if n.endswith(".whl")]


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(requirements: bytes, architecture: str, python_version: str) -> str:
    """Name of the wheel cache entry for one requirements content, architecture and Python version."""
    digest = hashlib.sha256()
    for part in (CACHE_FORMAT.encode(), architecture.encode(), python_version.encode(), " ".join(PLATFORMS[architecture]).encode()):
        digest.update(part + b"\0")
    digest.update(requirements)
    return f"{architecture}-py{python_version}-{digest.hexdigest()[:32]}"


def cached_wheels(entry: str) -> list[str] | None:
    """Wheel paths of a complete cache entry whose files match its manifest, else None."""
    try:
        with open(os.path.join(entry, CACHE_MANIFEST), encoding="utf-8") as handle:
            manifest = json.load(handle)
        wheels = manifest["wheels"]
        paths = [os.path.join(entry, name) for name in sorted(wheels)]
        if all(file_sha256(path) == wheels[os.path.basename(path)] for path in paths):
            return paths
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def write_manifest(module: AnsibleModule, directory: str) -> None:
    """Record the downloaded wheels and their checksums; the manifest marks a cache entry as complete."""
    wheels = {name: file_sha256(os.path.join(directory, name)) for name in list_wheels(module, directory)}
    with open(os.path.join(directory, CACHE_MANIFEST), "w", encoding="utf-8") as handle:
        json.dump({"format": CACHE_FORMAT, "wheels": wheels}, handle, indent=2, sort_keys=True)


def wheels_from_cache(module: AnsibleModule, requirements: str, content: bytes) -> list[str]:
    """Wheel paths from the cache, downloading them into a new cache entry first when needed."""
    cache = module.params["wheel_cache"]
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError as exc:
        module.fail_json(msg=f"wheel_cache: cannot create directory {cache}: {exc}")
    entry = os.path.join(cache, cache_key(content, module.params["architecture"], module.params["python_version"]))
    paths = cached_wheels(entry)
    if paths is not None:
        return paths
    download = tempfile.mkdtemp(prefix=".download-", dir=cache)
    try:
        run_pip_download(module, requirements, download)
        write_manifest(module, download)
        if os.path.isdir(entry):
            shutil.rmtree(entry)  # incomplete or damaged entry
        try:
            os.rename(download, entry)
        except OSError:
            pass  # another run stored the same entry meanwhile; it is checked below
    finally:
        if os.path.isdir(download):
            shutil.rmtree(download)
    paths = cached_wheels(entry)
    if paths is None:
        module.fail_json(msg=f"wheel_cache: could not store the downloaded wheels in {entry}")
    return paths


def dependency_members(module: AnsibleModule, requirements: str | None) -> tuple[list[ZipMember], list[str]]:
    """The files of all dependency wheels and the wheels' file names."""
    if requirements is None:
        return [], []
    with open(requirements, "rb") as handle:
        content = handle.read()
    if not has_requirements(content):
        return [], []
    with tempfile.TemporaryDirectory(prefix="lambda_package-") as tmp:
        if module.params["wheel_cache"]:
            paths = wheels_from_cache(module, requirements, content)
        else:
            run_pip_download(module, requirements, tmp)
            paths = [os.path.join(tmp, name) for name in list_wheels(module, tmp)]
        members = []
        for path in paths:
            members.extend(collect_wheel(path))
    return members, [os.path.basename(path) for path in paths]


def zip_matches(path: str, sha256: str) -> bool:
    """True when ``path`` is a file whose bytes have the given SHA-256."""
    return os.path.isfile(path) and file_sha256(path) == sha256


def write_zip(module: AnsibleModule, path: str, data: bytes) -> None:
    """Write the zip atomically: a temporary file in the same directory, then a rename."""
    dest_dir = os.path.dirname(path)
    try:
        os.makedirs(dest_dir, exist_ok=True)
    except OSError as exc:
        module.fail_json(msg=f"dest_dir: cannot create directory {dest_dir}: {exc}")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    validate_params(module)
    params = module.params
    src = params["src"]

    try:
        source = collect_source(src, params["exclude"])
    except LambdaZipError as exc:
        module.fail_json(msg=f"src: {exc}")
    if not any(member.arcname.endswith(".py") for member in source):
        module.fail_json(msg=f"src: {src} contains no .py file (after applying exclude)")

    requirements = requirements_file(src, params["requirements"])
    try:
        wheel_files, dependencies = dependency_members(module, requirements)
        members = merge_members(source, wheel_files)
    except LambdaZipError as exc:
        module.fail_json(msg=str(exc))
    data = build_zip(members)

    sha256, code_sha256 = zip_digests(data)
    path = os.path.join(params["dest_dir"], f"{params['name']}-{sha256[:16]}.zip")
    exists = zip_matches(path, sha256)
    if not exists and not module.check_mode:
        write_zip(module, path, data)

    result = {
        "changed": not exists,
        "path": path,
        "sha256": sha256,
        "code_sha256": code_sha256,
        "size": len(data),
        "files": len(members),
        "dependencies": dependencies,
    }
    if module._diff:
        result["diff"] = {
            "before_header": path,
            "after_header": path,
            "before": f"{path} sha256={sha256}\n" if exists else "",
            "after": f"{path} sha256={sha256}\n",
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
