"""The Debian package (debian/, built by scripts/build-deb = `make deb`): installs into a throw-away root and checks
what an operator gets, without starting anything on this machine.

The install is a real `dpkg --root=ROOT -i` with --force-script-chrootless: the maintainer scripts run (they honour
DPKG_ROOT: systemd-sysusers --root creates the synchub user in ROOT/etc/passwd, deb-systemd-helper writes its state
under ROOT) and --force-depends because ROOT holds no libc. Then: the files, the conffile, the user, the
credentials folder, `man synchub` / `man synchub.ini` from the package, `systemd-analyze verify --root=ROOT` of the
unit (unknown keys, missing binaries and unresolvable Documentation= man pages fail it), the unit's hardening
against docs/synchub.service, and the packaged config passing `check-config` once its credentials exist.

The package: $SYNCHUB_DEB, else build-deb/synchub_<version>_<arch>.deb (skipped when absent, failed under CI=true).
"""

import gzip
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def deb_path():
    if os.environ.get("SYNCHUB_DEB"):
        return Path(os.environ["SYNCHUB_DEB"])
    version = subprocess.run(["dpkg-parsechangelog", "-l", str(REPO / "debian/changelog"), "-S", "Version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    arch = subprocess.run(["dpkg-architecture", "-qDEB_HOST_ARCH"], capture_output=True, text=True,
                          check=True).stdout.strip()
    return REPO / "build-deb" / f"synchub_{version}_{arch}.deb"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    deb = deb_path()
    if not deb.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{deb} missing: run `make deb` first")
        pytest.skip(f"{deb} missing: run `make deb` first")
    if os.geteuid() != 0:
        pytest.skip("dpkg --root runs the maintainer scripts, which chown: needs root")
    r = tmp_path_factory.mktemp("root")
    (r / "var/lib/dpkg/info").mkdir(parents=True)
    (r / "var/lib/dpkg/updates").mkdir()
    (r / "var/lib/dpkg/status").touch()
    (r / "etc").mkdir()
    p = subprocess.run(["dpkg", f"--root={r}", "--force-script-chrootless", "--force-depends", "--log=/dev/null",
                        "-i", str(deb)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    # systemd-analyze verify --root resolves the unit's dependencies (sysinit.target, …) in ROOT: give it the
    # targets, slices and sockets of systemd itself (a Debian system with the package has them).
    units = r / "lib/systemd/system"
    for f in Path("/lib/systemd/system").iterdir():
        if f.suffix in (".target", ".slice", ".socket") and not (units / f.name).exists():
            shutil.copy(f, units / f.name, follow_symlinks=False)
    return r


def test_files_in_place(root):
    binary = root / "usr/bin/synchub"
    assert binary.stat().st_mode & stat.S_IXOTH
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("synchub ")
    for f in ("lib/systemd/system/synchub.service", "usr/lib/sysusers.d/synchub.conf",
              "usr/share/man/man1/synchub.1.gz", "usr/share/man/man5/synchub.ini.5.gz",
              "usr/share/bash-completion/completions/synchub", "usr/share/doc/synchub/copyright"):
        assert (root / f).is_file(), f
    # The pages are the ones the binary generates (not a stale copy).
    assert gzip.decompress((root / "usr/share/man/man5/synchub.ini.5.gz").read_bytes()).decode() == \
        subprocess.run([str(binary), "help", "man5"], capture_output=True, text=True, check=True).stdout


def test_conffile_and_credentials_folder(root):
    conffiles = subprocess.run(["dpkg-query", f"--root={root}", "-W", "-f=${Conffiles}", "synchub"],
                               capture_output=True, text=True, check=True).stdout
    assert re.search(r"^ /etc/synchub/synchub\.ini [0-9a-f]{32}$", conffiles, re.M), conffiles
    ini = (root / "etc/synchub/synchub.ini").read_text()
    assert re.search(r"^path = /var/lib/synchub/synchub\.db", ini, re.M)
    creds = root / "etc/synchub/credentials"
    st = creds.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0


def test_system_user(root):
    passwd = (root / "etc/passwd").read_text()
    m = re.search(r"^synchub:x:(\d+):(\d+):[^:]*:/var/lib/synchub:(\S+)$", passwd, re.M)
    assert m, passwd
    assert int(m.group(1)) < 1000 and m.group(3).endswith("nologin")
    assert re.search(r"^synchub:x:\d+:", (root / "etc/group").read_text(), re.M)


def test_man_pages_from_the_package(root):
    env = dict(os.environ, MANPATH=str(root / "usr/share/man"), MANWIDTH="100", MAN_KEEP_FORMATTING="")
    for page, words in (("synchub", ["check-config", "--config FILE", "reconcile"]),
                        ("synchub.ini", ["ack_timeout = 3s", "webhook_secret", "[shop DOMAIN]"])):
        p = subprocess.run(["man", "-P", "cat", page], capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        text = re.sub(r".\x08", "", p.stdout)
        for w in words:
            assert w in text, f"{w!r} not in man {page}"


def test_unit_verifies(root):
    env = dict(os.environ, MANPATH=str(root / "usr/share/man"))
    p = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "synchub.service"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr


def unit_settings(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_unit_hardened_like_the_documented_one(root):
    packaged = unit_settings((root / "lib/systemd/system/synchub.service").read_text())
    documented = (REPO / "docs/synchub.service").read_text()
    hardening = unit_settings(documented.split("# Hardening:", 1)[1].split("[Install]", 1)[0])
    assert len(hardening) > 20
    for k, v in hardening.items():
        assert packaged.get(k) == v, f"{k}: packaged {packaged.get(k)} != documented {v}"
    for k in ("Type", "KillMode", "TimeoutStopSec", "StateDirectory", "UMask"):
        assert packaged[k] == unit_settings(documented)[k]
    assert packaged["ExecStart"] == ["/usr/bin/synchub --config /etc/synchub/synchub.ini serve"]
    assert packaged["User"] == ["synchub"] and "DynamicUser" not in packaged
    assert packaged["LoadCredential"] == ["synchub:/etc/synchub/credentials"]
    assert packaged["StandardError"] == ["journal"]


def test_packaged_config_is_valid_once_its_credentials_exist(root, tmp_path):
    """The conffile names its secrets as LoadCredential= delivers them (synchub_FILENAME): with such files in
    place (here a folder standing in for /run/credentials/synchub.service) check-config passes."""
    ini = (root / "etc/synchub/synchub.ini").read_text()
    creds = tmp_path / "creds"
    creds.mkdir()
    names = set(re.findall(r"/run/credentials/synchub\.service/(\S+)", ini))
    assert names and all(n.startswith("synchub_") for n in names), names
    for n in names:
        (creds / n).write_text("x" * 32 + "\n")
    cfg = tmp_path / "synchub.ini"
    cfg.write_text(ini.replace("/run/credentials/synchub.service/", f"{creds}/")
                   .replace("/var/lib/synchub/synchub.db", str(tmp_path / "synchub.db")))
    p = subprocess.run([str(root / "usr/bin/synchub"), "--config", str(cfg), "check-config"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_bash_completion_reads_the_binary(root):
    script = (f"source {root}/usr/share/bash-completion/completions/synchub; "
              f"COMP_WORDS=({root}/usr/bin/synchub rec); COMP_CWORD=1; _synchub; echo \"${{COMPREPLY[@]}}\"; "
              f"COMP_WORDS=({root}/usr/bin/synchub reconcile ''); COMP_CWORD=2; _synchub; echo \"${{COMPREPLY[@]}}\"")
    lines = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "reconcile"
    assert {"orders", "inventory", "--shop", "--dry-run"} <= set(lines[1].split())


def test_build_depends_are_install_deps_packages():
    """debian/control builds with what scripts/install-deps installs (its build list, build-essential implied)."""
    deps = (REPO / "scripts/install-deps").read_text()
    build = re.search(r"build_pkgs=\(([^)]*)\)", deps).group(1).split()
    control = (REPO / "debian/control").read_text()
    bd = re.search(r"^Build-Depends:(.*?)^\S", control, re.M | re.S).group(1)
    names = {re.sub(r"\s*\(.*", "", d).strip() for d in bd.split(",") if d.strip()}
    assert set(build) - {"build-essential"} <= names, set(build) - names
    tools = re.search(r"deb_pkgs=\(([^)]*)\)", deps).group(1).split()
    assert {"debhelper", "lintian", "bash-completion"} <= set(tools)


def test_version_matches_cmake():
    cmake = re.search(r"project\(synchub VERSION (\S+)", (REPO / "CMakeLists.txt").read_text()).group(1)
    changelog = (REPO / "debian/changelog").read_text().split("\n", 1)[0]
    assert changelog.startswith(f"synchub ({cmake})"), changelog
