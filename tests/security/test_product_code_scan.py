"""Static proofs over product code: TLS verification is never turned off, nothing reaches a shell.

The scanner walks the AST (so comments and docstrings that merely mention a pattern do not count),
plus a plain-text check for names that have no business in product code at all. Each rule is shown
to fire on a planted example, so a broken scanner cannot pass silently.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("assets", "resources", "orchestration", "emulator")
CLIENT_PACKAGES = ("assets", "resources", "orchestration")  # code that calls out over HTTP
THE_SESSION_FACTORY = "resources/http.py"

FORBIDDEN_NAMES = (
    "CERT_NONE",
    "InsecureRequestWarning",
    "disable_warnings",
    "_create_unverified_context",
    "_create_default_https_context",
    "PYTHONHTTPSVERIFY",
    "ssl_verify",
)
REQUESTS_SHORTCUTS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request"}
)
SHELL_CALLS = frozenset({"os.system", "os.popen", "commands.getoutput", "pty.spawn"})
SUBPROCESS_CALLS = frozenset(
    {"run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"}
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}"


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def is_false(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, 0, "", None)


def is_string_command(node: ast.AST) -> bool:
    """A command built as one string (a shell would split it), rather than an argument list."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        return True
    return isinstance(node, ast.Call) and dotted(node.func).endswith(".format")


class Scanner(ast.NodeVisitor):
    def __init__(self, path: str, client_code: bool) -> None:
        self.path = path
        self.client_code = client_code
        self.findings: list[Finding] = []

    def flag(self, node: ast.AST, rule: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), rule))

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted(node.func)
        for keyword in node.keywords:
            if keyword.arg in ("verify", "check_hostname") and is_false(keyword.value):
                self.flag(node, f"{keyword.arg}= disabled")
            if keyword.arg == "shell" and not is_false(keyword.value):
                self.flag(node, "shell=True")
        if name in SHELL_CALLS or name.startswith(("os.exec", "os.spawn")):
            self.flag(node, f"shell-like call {name}")
        if (
            name.startswith("subprocess")
            and name.rsplit(".", 1)[-1] in SUBPROCESS_CALLS
            and node.args
            and is_string_command(node.args[0])
        ):
            self.flag(node, f"{name} with a command string")
        if name in ("eval", "exec"):
            self.flag(node, f"{name}()")
        if self.client_code and self.path != THE_SESSION_FACTORY:
            if name in ("requests.Session", "requests.session"):
                self.flag(node, "requests session outside the one session factory")
            if name.startswith("requests.") and name.split(".", 1)[1] in REQUESTS_SHORTCUTS:
                self.flag(node, f"{name}() bypasses the session factory (env CA, no timeout)")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            attr = target.attr if isinstance(target, ast.Attribute) else ""
            if attr in ("verify", "check_hostname") and is_false(node.value):
                self.flag(node, f"{attr} = disabled")
            if attr == "trust_env" and not is_false(node.value):
                self.flag(node, "trust_env enabled: REQUESTS_CA_BUNDLE would replace verify")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self.flag(node, f"forbidden name {node.id}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FORBIDDEN_NAMES:
            self.flag(node, f"forbidden name {node.attr}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in FORBIDDEN_NAMES:
            self.flag(node, f"forbidden name {node.value!r}")


def scan_source(source: str, path: str, client_code: bool = True) -> list[Finding]:
    scanner = Scanner(path, client_code)
    scanner.visit(ast.parse(source, filename=path))
    return scanner.findings


def product_files(packages: tuple[str, ...]) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def scan_product() -> list[Finding]:
    findings = []
    for path in product_files(PRODUCT_PACKAGES):
        relative = path.relative_to(ROOT).as_posix()
        client_code = relative.split("/", 1)[0] in CLIENT_PACKAGES
        findings += scan_source(path.read_text(encoding="utf-8"), relative, client_code)
    return findings


def test_product_code_is_scanned() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in product_files(PRODUCT_PACKAGES)}
    assert THE_SESSION_FACTORY in files
    assert "emulator/server.py" in files
    assert len(files) > 40


def test_product_code_never_disables_tls_nor_reaches_a_shell() -> None:
    findings = scan_product()
    assert not findings, "\n".join(map(str, findings))


def test_the_session_factory_ignores_the_environment_and_passes_verify_explicitly() -> None:
    source = (ROOT / THE_SESSION_FACTORY).read_text(encoding="utf-8")
    assert "session.trust_env = False" in source
    assert "verify=self.verify" in source


PLANTED = """
import os, ssl, subprocess, requests, urllib3
requests.get(url, verify=False)
session.verify = False
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
ssl._create_default_https_context = ssl._create_unverified_context
session.trust_env = True
subprocess.run("sfload stop " + key, shell=True)
subprocess.check_output(f"echo {value}")
os.system("rm -rf " + path)
eval(text)
http = requests.Session()
"""


def test_each_rule_fires_on_a_planted_example() -> None:
    rules = " | ".join(f.rule for f in scan_source(PLANTED, "planted.py"))
    for expected in (
        "verify= disabled",
        "verify = disabled",
        "check_hostname = disabled",
        "forbidden name CERT_NONE",
        "forbidden name disable_warnings",
        "forbidden name InsecureRequestWarning",
        "forbidden name _create_unverified_context",
        "forbidden name _create_default_https_context",
        "trust_env enabled",
        "shell=True",
        "subprocess.run with a command string",
        "subprocess.check_output with a command string",
        "shell-like call os.system",
        "eval()",
        "requests session outside the one session factory",
        "requests.get() bypasses the session factory",
    ):
        assert expected in rules, expected


def test_safe_forms_are_not_flagged() -> None:
    safe = """
import subprocess, requests
subprocess.run(["sfload", "stop", key], check=True)
session.trust_env = False
http.request("GET", url, verify=self.verify, timeout=(5, 30))
"""
    assert scan_source(safe, "safe.py") == []
