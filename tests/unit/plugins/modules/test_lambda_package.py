# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for smartcity.iot_analytics.lambda_package, driving main() as Ansible would."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import struct
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.smartcity.iot_analytics.plugins.module_utils import lambda_zip
from ansible_collections.smartcity.iot_analytics.plugins.modules import lambda_package

ORJSON = "orjson==3.11.4"
ELF_MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}  # e_machine: EM_AARCH64, EM_X86_64
SO_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}

SOURCE_FILES = {
    "lambda_handler.py": b"import helpers\n\n\ndef lambda_handler(event, context):\n    return helpers.count(event)\n",
    "helpers/__init__.py": b"def count(event):\n    return len(event.get('Records', []))\n",
    "helpers/schema.json": b'{"type": "object"}\n',
    "bin/run.py": b"#!/usr/bin/env python3\nprint('run')\n",
}
EXCLUDED_FILES = {
    "__pycache__/lambda_handler.cpython-312.pyc": b"\x00compiled",
    "helpers/__pycache__/__init__.cpython-312.pyc": b"\x00compiled",
    "helpers/stale.pyc": b"\x00compiled",
    "helpers/stale.pyo": b"\x00compiled",
    "tests/test_handler.py": b"def test_nothing():\n    pass\n",
    "helpers/tests/test_schema.py": b"def test_nothing():\n    pass\n",
    "requirements.txt": b"# no third-party dependencies\n\n   # still none\n",
    "requirements-dev.txt": b"pytest\n",
    ".env": b"SECRET=1\n",
    ".git/config": b"[core]\n",
}
EXECUTABLE = {"bin/run.py"}


# --------------------------------------------------------------------------------------------------- helpers


def write_tree(root: Path, files: dict[str, bytes], order: list[str] | None = None) -> Path:
    """Create ``files`` below ``root`` in the given order (default: dict order)."""
    for rel in order or list(files):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])
        if rel in EXECUTABLE:
            path.chmod(0o755)
    return root


def run_module(capsys: pytest.CaptureFixture[str], args: dict[str, Any]) -> dict[str, Any]:
    """Run lambda_package.main() with ``args`` and return the JSON result it printed."""
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        lambda_package.main()
    result = json.loads(capsys.readouterr().out)
    assert (exit_info.value.code != 0) == bool(result.get("failed")), result
    return result


def build(capsys: pytest.CaptureFixture[str], src: Path, dest: Path, **options: Any) -> dict[str, Any]:
    """Successful build; fails the test with the module's message otherwise."""
    result = run_module(capsys, dict(src=str(src), dest_dir=str(dest), **options))
    assert not result.get("failed"), result.get("msg")
    return result


def make_wheel(path: Path, members: dict[str, bytes], executable: tuple[str, ...] = ()) -> None:
    """Write a wheel (a zip) with the given members; ``executable`` members get mode 0755."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 5, 6, 7, 8, 9))
            info.external_attr = ((0o755 if name in executable else 0o644) | stat.S_IFREG) << 16
            zf.writestr(info, data)


def local_header_extra_length(data: bytes, info: zipfile.ZipInfo) -> int:
    """Length of the extra field in an entry's local file header (zipfile only exposes the central one)."""
    header = data[info.header_offset:info.header_offset + 30]
    assert header[:4] == b"PK\x03\x04"
    return struct.unpack("<H", header[28:30])[0]


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    return struct.unpack("<H", data[18:20])[0]


class PipRecorder:
    """Stands in for AnsibleModule.run_command: records pip commands and writes prepared wheels to --dest."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.kwargs: list[dict[str, Any]] = []
        self.wheels: dict[str, tuple[dict[str, bytes], tuple[str, ...]]] = {}
        self.rc = 0
        self.stderr = ""

    def __call__(self, module: basic.AnsibleModule, args: list[str], **kwargs: Any) -> tuple[int, str, str]:
        self.calls.append(list(args))
        self.kwargs.append(kwargs)
        if self.rc == 0:
            dest = Path(args[args.index("--dest") + 1])
            for name, (members, executable) in self.wheels.items():
                make_wheel(dest / name, members, executable)
        return self.rc, "", self.stderr


# --------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def src(tmp_path: Path) -> Path:
    files = dict(SOURCE_FILES, **EXCLUDED_FILES)
    return write_tree(tmp_path / "src", files)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> PipRecorder:
    recorder = PipRecorder()
    recorder.wheels["demo-1.0-py3-none-any.whl"] = (
        {
            "demo/__init__.py": b"VERSION = '1.0'\n",
            "demo/_speedups.cpython-312-aarch64-linux-gnu.so": b"\x7fELF fake",
            "demo-1.0.data/purelib/demo_extra.py": b"EXTRA = True\n",
            "demo-1.0.data/scripts/demo-cli": b"#!python\n",
            "demo-1.0.dist-info/METADATA": b"Name: demo\nVersion: 1.0\n",
            "demo-1.0.dist-info/RECORD": b"",
        },
        ("demo/_speedups.cpython-312-aarch64-linux-gnu.so",),
    )

    def run_command(module: basic.AnsibleModule, args: list[str], **kwargs: Any) -> tuple[int, str, str]:
        return recorder(module, args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    return recorder


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any command the module runs fails the test."""

    def refuse(module: basic.AnsibleModule, args: list[str], **kwargs: Any) -> tuple[int, str, str]:
        pytest.fail(f"the module ran a command although it needed none: {args}")

    monkeypatch.setattr(basic.AnsibleModule, "run_command", refuse)


@pytest.fixture(scope="session")
def shared_wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheel-cache")


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements" / "lambda.txt"
    path.parent.mkdir()
    path.write_text("# pinned\ndemo==1.0  # the only one\n")
    return path


# --------------------------------------------------------------------------------------------------- source only


def test_rebuild_gives_identical_bytes_and_is_not_rewritten(capsys, src, dest, no_pip):
    first = build(capsys, src, dest)
    zip_path = Path(first["path"])
    first_bytes = zip_path.read_bytes()
    os.utime(zip_path, ns=(1_000_000_000, 1_000_000_000))  # a rewrite would change the mtime

    second = build(capsys, src, dest)

    assert first["changed"] is True
    assert second["changed"] is False
    assert zip_path.read_bytes() == first_bytes
    assert zip_path.stat().st_mtime_ns == 1_000_000_000
    for key in ("path", "sha256", "code_sha256", "size", "files", "dependencies"):
        assert second[key] == first[key], key
    assert sorted(p.name for p in dest.iterdir()) == [zip_path.name]  # no temporary files left


def test_result_describes_the_zip(capsys, src, dest, no_pip):
    result = build(capsys, src, dest, name="stream-processor")
    data = Path(result["path"]).read_bytes()
    digest = hashlib.sha256(data).digest()

    assert result["sha256"] == digest.hex()
    assert result["code_sha256"] == base64.b64encode(digest).decode()
    assert result["path"] == str(dest / f"stream-processor-{digest.hex()[:16]}.zip")
    assert result["size"] == len(data)
    with zipfile.ZipFile(result["path"]) as zf:
        assert result["files"] == len(zf.namelist()) == len(SOURCE_FILES)
    assert result["dependencies"] == []


def test_copy_with_other_mtimes_and_creation_order_has_same_sha256(capsys, tmp_path, src, no_pip):
    files = dict(SOURCE_FILES, **EXCLUDED_FILES)
    copy = write_tree(tmp_path / "copy", files, order=sorted(files, reverse=True))
    for number, path in enumerate(sorted(copy.rglob("*"), reverse=True)):
        os.utime(path, (1_700_000_000 + 7919 * number, 1_700_000_000 + 104729 * number))

    original = build(capsys, src, tmp_path / "out-a")
    copied = build(capsys, copy, tmp_path / "out-b")

    assert copied["sha256"] == original["sha256"]
    assert Path(copied["path"]).read_bytes() == Path(original["path"]).read_bytes()


def test_one_byte_change_gives_new_sha256_and_path_and_keeps_old_zip(capsys, src, dest, no_pip):
    before = build(capsys, src, dest)
    handler = src / "helpers" / "schema.json"
    handler.write_bytes(handler.read_bytes().replace(b"object", b"objecT"))

    after = build(capsys, src, dest)

    assert after["changed"] is True
    assert after["sha256"] != before["sha256"]
    assert after["path"] != before["path"]
    assert Path(before["path"]).is_file()  # old zips are left alone


def test_excluded_files_are_not_packaged(capsys, src, dest, no_pip):
    result = build(capsys, src, dest)
    with zipfile.ZipFile(result["path"]) as zf:
        names = zf.namelist()
    assert sorted(names) == sorted(SOURCE_FILES)
    for name in names:
        assert "__pycache__" not in name and not name.endswith((".pyc", ".pyo"))
        assert not name.startswith("tests/") and "/tests/" not in name
        assert not Path(name).name.startswith(("requirements", "."))


@pytest.mark.parametrize(
    "exclude, missing",
    [
        (["*.json"], {"helpers/schema.json"}),
        (["helpers"], {"helpers/__init__.py", "helpers/schema.json"}),
        (["bin/*"], {"bin/run.py"}),
    ],
)
def test_custom_exclude_patterns(capsys, src, dest, no_pip, exclude, missing):
    result = build(capsys, src, dest, exclude=exclude)
    with zipfile.ZipFile(result["path"]) as zf:
        names = set(zf.namelist())
    assert names.isdisjoint(missing)
    assert set(SOURCE_FILES) - missing <= names
    assert "tests/test_handler.py" in names  # the defaults are replaced, not extended


def test_entries_sorted_with_fixed_metadata(capsys, src, dest, no_pip):
    result = build(capsys, src, dest)
    data = Path(result["path"]).read_bytes()
    with zipfile.ZipFile(result["path"]) as zf:
        infos = zf.infolist()
        assert zf.comment == b""
        for info in infos:
            assert zf.read(info) == SOURCE_FILES[info.filename]

    names = [info.filename for info in infos]
    assert names == sorted(names)
    for info in infos:
        assert not info.is_dir()
        assert "\\" not in info.filename
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.create_system == 3
        assert info.extra == b"" and info.comment == b""
        assert local_header_extra_length(data, info) == 0
        mode = 0o755 if info.filename in EXECUTABLE else 0o644
        assert info.external_attr >> 16 == stat.S_IFREG | mode, info.filename


def test_check_mode_writes_nothing_and_predicts_the_real_build(capsys, src, dest, no_pip):
    checked = build(capsys, src, dest, _ansible_check_mode=True)
    assert checked["changed"] is True
    assert not dest.exists()

    real = build(capsys, src, dest)
    assert real["changed"] is True
    for key in ("path", "sha256", "code_sha256", "size", "files"):
        assert checked[key] == real[key], key
    assert hashlib.sha256(Path(real["path"]).read_bytes()).hexdigest() == checked["sha256"]

    rechecked = build(capsys, src, dest, _ansible_check_mode=True)
    assert rechecked["changed"] is False
    assert rechecked["sha256"] == real["sha256"]


def test_damaged_zip_is_rewritten(capsys, src, dest, no_pip):
    first = build(capsys, src, dest)
    good = Path(first["path"]).read_bytes()
    Path(first["path"]).write_bytes(b"truncated")

    second = build(capsys, src, dest)

    assert second["changed"] is True
    assert Path(second["path"]).read_bytes() == good


def test_diff_mode_shows_path_before_and_after(capsys, src, dest, no_pip):
    first = build(capsys, src, dest, _ansible_diff=True)
    second = build(capsys, src, dest, _ansible_diff=True)

    assert first["diff"]["before"] == ""
    assert first["path"] in first["diff"]["after"]
    assert first["sha256"] in first["diff"]["after"]
    assert second["diff"]["before"] == second["diff"]["after"]


@pytest.mark.parametrize(
    "change, option",
    [
        pytest.param({"src": "missing"}, "src", id="src-missing"),
        pytest.param({"src": "no-python"}, "src", id="src-without-py"),
        pytest.param({"src": "only-tests"}, "src", id="src-py-only-excluded"),
        pytest.param({"python_version": "3"}, "python_version", id="python-3"),
        pytest.param({"python_version": "3.x"}, "python_version", id="python-3.x"),
        pytest.param({"python_version": "2.7"}, "python_version", id="python-2.7"),
        pytest.param({"python_version": "312"}, "python_version", id="python-312"),
        pytest.param({"python_version": "3.12.1"}, "python_version", id="python-3.12.1"),
        pytest.param({"python_version": "3.12\n"}, "python_version", id="python-trailing-newline"),
        pytest.param({"name": "../escape"}, "name", id="name-with-slash"),
        pytest.param({"name": "lambda\n"}, "name", id="name-trailing-newline"),
        pytest.param({"requirements": "missing.txt"}, "requirements", id="requirements-missing"),
        pytest.param({"architecture": "aarch64"}, "architecture", id="architecture-unknown"),
        pytest.param({"dest_dir": "a-file"}, "dest_dir", id="dest-dir-is-file"),
    ],
)
def test_bad_options_fail_naming_the_option(capsys, tmp_path, src, dest, no_pip, change, option):
    write_tree(tmp_path / "no-python", {"README.md": b"# docs\n", "data.json": b"{}\n"})
    write_tree(tmp_path / "only-tests", {"tests/test_a.py": b"pass\n", "README.md": b"x\n"})
    (tmp_path / "a-file").write_text("not a directory")
    args = {"src": str(src), "dest_dir": str(dest)}
    args.update({key: str(tmp_path / value) if key in ("src", "requirements", "dest_dir") else value for key, value in change.items()})

    result = run_module(capsys, args)

    assert result["failed"] is True
    assert option in result["msg"]
    if option != "architecture":  # the choices error comes from AnsibleModule itself
        assert result["msg"].startswith(option + ":"), result["msg"]
    assert not dest.exists()


# --------------------------------------------------------------------------------------------------- dependencies, pip faked


def test_blank_requirements_file_runs_no_pip(capsys, src, dest, tmp_path, fake_pip):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n# nothing yet\n   \n  # indented comment\n")

    explicit = build(capsys, src, dest, requirements=str(blank))
    default = build(capsys, src, dest)  # src/requirements.txt is comment-only

    assert fake_pip.calls == []
    assert explicit["dependencies"] == default["dependencies"] == []
    assert explicit["sha256"] == default["sha256"]


@pytest.mark.parametrize(
    "architecture, python_version, platforms, abi",
    [
        ("arm64", "3.12", ["manylinux2014_aarch64", "manylinux_2_28_aarch64"], "cp312"),
        ("x86_64", "3.11", ["manylinux2014_x86_64", "manylinux_2_28_x86_64"], "cp311"),
        ("arm64", "3.13", ["manylinux2014_aarch64", "manylinux_2_28_aarch64"], "cp313"),
    ],
)
def test_pip_downloads_for_the_function_platform(capsys, src, dest, requirements, fake_pip, architecture, python_version, platforms, abi):
    build(capsys, src, dest, requirements=str(requirements), architecture=architecture, python_version=python_version)

    assert len(fake_pip.calls) == 1
    cmd = fake_pip.calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--only-binary=:all:" in cmd
    assert [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--platform"] == platforms
    for flag, value in (("--implementation", "cp"), ("--python-version", python_version), ("--abi", abi)):
        assert cmd[cmd.index(flag) + 1] == value
    assert cmd[cmd.index("-r") + 1] == str(requirements)
    assert fake_pip.kwargs[0].get("cwd") == str(requirements.parent)


def test_wheel_files_are_unpacked_at_the_root(capsys, src, dest, requirements, fake_pip):
    result = build(capsys, src, dest, requirements=str(requirements))

    with zipfile.ZipFile(result["path"]) as zf:
        names = zf.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
        assert zf.read("demo_extra.py") == b"EXTRA = True\n"
    assert names == sorted(names)
    assert set(SOURCE_FILES) < set(names)
    assert {"demo/__init__.py", "demo-1.0.dist-info/METADATA", "demo-1.0.dist-info/RECORD", "demo_extra.py"} < set(names)
    assert not any(".data/" in name or name.endswith("demo-cli") for name in names)
    assert modes["demo/_speedups.cpython-312-aarch64-linux-gnu.so"] == stat.S_IFREG | 0o755
    assert modes["demo/__init__.py"] == stat.S_IFREG | 0o644
    assert result["dependencies"] == ["demo-1.0-py3-none-any.whl"]
    assert result["files"] == len(names)


def test_default_requirements_file_in_src_is_used(capsys, src, dest, fake_pip):
    (src / "requirements.txt").write_text("demo==1.0\n")

    result = build(capsys, src, dest)

    assert len(fake_pip.calls) == 1
    assert fake_pip.calls[0][fake_pip.calls[0].index("-r") + 1] == str(src / "requirements.txt")
    with zipfile.ZipFile(result["path"]) as zf:
        assert "requirements.txt" not in zf.namelist()
        assert "demo/__init__.py" in zf.namelist()


@pytest.mark.parametrize(
    "member",
    ["../evil.py", "/etc/evil.py", "demo/../../evil.py", "C:/evil.py", "demo\\..\\..\\evil.py", "demo//evil.py"],
)
def test_unsafe_wheel_member_paths_are_rejected(capsys, src, dest, requirements, fake_pip, member):
    fake_pip.wheels = {"evil-1.0-py3-none-any.whl": ({member: b"print('pwned')\n"}, ())}

    result = run_module(capsys, {"src": str(src), "dest_dir": str(dest), "requirements": str(requirements)})

    assert result["failed"] is True
    assert "evil-1.0-py3-none-any.whl" in result["msg"]
    assert repr(member) in result["msg"]
    assert not dest.exists()


def test_dependency_colliding_with_source_file_fails(capsys, src, dest, requirements, fake_pip):
    fake_pip.wheels["shadow-1.0-py3-none-any.whl"] = ({"helpers/__init__.py": b"# shadow\n"}, ())

    result = run_module(capsys, {"src": str(src), "dest_dir": str(dest), "requirements": str(requirements)})

    assert result["failed"] is True
    assert "helpers/__init__.py" in result["msg"]
    assert "shadow-1.0-py3-none-any.whl" in result["msg"]
    assert not dest.exists()


@pytest.mark.parametrize("same_content", [True, False], ids=["identical", "different"])
def test_two_wheels_shipping_one_path(capsys, src, dest, requirements, fake_pip, same_content):
    fake_pip.wheels["other-1.0-py3-none-any.whl"] = (
        {"demo/__init__.py": b"VERSION = '1.0'\n" if same_content else b"VERSION = 'other'\n"},
        (),
    )

    result = run_module(capsys, {"src": str(src), "dest_dir": str(dest), "requirements": str(requirements)})

    assert bool(result.get("failed")) is not same_content
    if not same_content:
        assert "demo/__init__.py" in result["msg"]


def test_pip_failure_reports_the_tail_of_stderr(capsys, src, dest, requirements, fake_pip):
    fake_pip.rc = 1
    fake_pip.stderr = "\n".join(f"noise line {n}" for n in range(60)) + "\nERROR: No matching distribution found for demo==1.0\n"

    result = run_module(capsys, {"src": str(src), "dest_dir": str(dest), "requirements": str(requirements), "architecture": "x86_64"})

    assert result["failed"] is True
    assert "ERROR: No matching distribution found for demo==1.0" in result["msg"]
    assert "noise line 0\n" not in result["msg"]
    assert str(requirements) in result["msg"]
    assert "x86_64" in result["msg"]
    assert not dest.exists()


def test_wheel_cache_is_keyed_by_requirements_architecture_and_python(capsys, tmp_path, src, dest, requirements, fake_pip):
    cache = tmp_path / "cache"
    options = {"requirements": str(requirements), "wheel_cache": str(cache)}

    first = build(capsys, src, dest, **options)
    assert len(fake_pip.calls) == 1
    again = build(capsys, src, dest, **options)
    assert len(fake_pip.calls) == 1  # served from the cache
    assert again["sha256"] == first["sha256"] and again["changed"] is False

    build(capsys, src, dest, python_version="3.11", **options)
    assert len(fake_pip.calls) == 2
    build(capsys, src, dest, architecture="x86_64", **options)
    assert len(fake_pip.calls) == 3
    requirements.write_text("demo==1.0\n")
    build(capsys, src, dest, **options)
    assert len(fake_pip.calls) == 4
    build(capsys, src, dest, **options)
    assert len(fake_pip.calls) == 4
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no download leftovers


def test_damaged_wheel_cache_entry_is_downloaded_again(capsys, tmp_path, src, dest, requirements, fake_pip):
    cache = tmp_path / "cache"
    options = {"requirements": str(requirements), "wheel_cache": str(cache)}
    first = build(capsys, src, dest, **options)
    (entry,) = cache.iterdir()
    (entry / "demo-1.0-py3-none-any.whl").write_bytes(b"damaged")

    second = build(capsys, src, dest, **options)

    assert len(fake_pip.calls) == 2
    assert second["sha256"] == first["sha256"]


def test_check_mode_with_dependencies_writes_nothing_to_dest(capsys, src, dest, requirements, fake_pip):
    checked = build(capsys, src, dest, requirements=str(requirements), _ansible_check_mode=True)
    real = build(capsys, src, dest, requirements=str(requirements))

    assert checked["changed"] is real["changed"] is True
    assert checked["sha256"] == real["sha256"]
    assert checked["dependencies"] == real["dependencies"]


# --------------------------------------------------------------------------------------------------- lambda_zip


@pytest.mark.parametrize(
    "path, excluded",
    [
        ("a/__pycache__/b.py", True),
        ("pkg/tests/x.py", True),
        ("pkg/testsuite.py", False),
        ("requirements-dev.txt", True),
        ("docs/requirements.md", False),
        (".hidden/a.py", True),
        ("a/.b", True),
        ("handler.py", False),
    ],
)
def test_is_excluded_matches_every_component(path, excluded):
    assert lambda_zip.is_excluded(path, lambda_zip.DEFAULT_EXCLUDE) is excluded


def test_build_zip_sorts_members_itself():
    members = [lambda_zip.ZipMember(name, name.encode(), False, name) for name in ("b/a.py", "a.py", "B.py", "a/z.py")]
    with zipfile.ZipFile(io.BytesIO(lambda_zip.build_zip(members))) as zf:
        assert zf.namelist() == ["B.py", "a.py", "a/z.py", "b/a.py"]
    assert lambda_zip.build_zip(members) == lambda_zip.build_zip(list(reversed(members)))


def test_default_exclude_matches_documentation():
    assert lambda_package.ARGUMENT_SPEC["exclude"]["default"] == lambda_zip.DEFAULT_EXCLUDE


# --------------------------------------------------------------------------------------------------- real pip (PyPI)


@pytest.mark.parametrize("architecture", ["arm64", "x86_64"])
def test_real_wheels_for_the_function_architecture(capsys, monkeypatch, tmp_path, src, shared_wheel_cache, architecture):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{ORJSON}\n")
    options = {"requirements": str(requirements), "wheel_cache": str(shared_wheel_cache), "architecture": architecture}
    calls = []
    real_run_command = basic.AnsibleModule.run_command

    def spy(module, args, **kwargs):
        calls.append(args)
        return real_run_command(module, args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", spy)
    first = build(capsys, src, tmp_path / "first", **options)
    assert len(calls) == 1

    with zipfile.ZipFile(first["path"]) as zf:
        shared_objects = [n for n in zf.namelist() if n.startswith("orjson/") and n.endswith(".so")]
        assert len(shared_objects) == 1, zf.namelist()
        assert "orjson-3.11.4.dist-info/METADATA" in zf.namelist()
        so_name = shared_objects[0]
        so_machine = elf_machine(zf.read(so_name))
    other = SO_ARCH["x86_64" if architecture == "arm64" else "arm64"]
    assert SO_ARCH[architecture] in so_name and other not in so_name
    assert so_machine == ELF_MACHINE[architecture]  # the binary itself, not only its name
    assert len(first["dependencies"]) == 1 and SO_ARCH[architecture] in first["dependencies"][0]

    def refuse(module, args, **kwargs):
        pytest.fail(f"pip ran although the wheel cache holds this build: {args}")

    monkeypatch.setattr(basic.AnsibleModule, "run_command", refuse)
    monkeypatch.setenv("PATH", "")
    second = build(capsys, src, tmp_path / "second", **options)

    assert second["sha256"] == first["sha256"]
    assert Path(second["path"]).read_bytes() == Path(first["path"]).read_bytes()
    assert second["dependencies"] == first["dependencies"]


def test_unknown_package_fails_with_pips_reason(capsys, tmp_path, src, dest):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("smartcity-no-such-package-7f3a9c2e==1.0\n")
    cache = tmp_path / "cache"

    result = run_module(capsys, {"src": str(src), "dest_dir": str(dest), "requirements": str(requirements), "wheel_cache": str(cache)})

    assert result["failed"] is True
    assert "No matching distribution found for smartcity-no-such-package-7f3a9c2e" in result["msg"]
    assert str(requirements) in result["msg"] and "arm64" in result["msg"]
    assert not dest.exists()
    assert list(cache.iterdir()) == []  # nothing half-downloaded is kept
