"""SQL lives in one place: graph/store/. Every other product module (the host, connectors,
the public API; the emulator and bench aside) calls the store, so a change of schema or a
query's shape is made and reviewed in one package."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("graph", "connector", "src")
STORE = ROOT / "graph" / "store"

# A string that starts like an SQL statement and names what a statement names
STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA|DROP|ALTER|WITH|REPLACE)\b", re.I
)
SQL_WORD = re.compile(r"\b(FROM|INTO|SET|TABLE|VIEW|INDEX|VALUES)\b|^\s*PRAGMA", re.I)


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal (or f-string part) that reads as SQL."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, joined
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if STATEMENT.match(text) and SQL_WORD.search(text):
            found.setdefault(node.lineno, text.strip()[:60])
    return sorted(found.items())


def product_files() -> list[Path]:
    files = []
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "emulator" in path.parts or path.is_relative_to(STORE):
                continue
            files.append(path)
    return files


def test_no_sql_outside_the_store():
    outside = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in product_files()
        for line, text in sql_strings(path.read_text())
    ]
    assert outside == []


def test_the_scan_finds_sql_in_strings_and_f_strings():
    source = (
        'a = "UPDATE runs SET rotated_from = ? WHERE id = ?"\n'
        'b = f"SELECT {x} FROM node_versions"\n'
        'c = "PRAGMA user_version"\n'
        'd = "Select the run to export."\n'  # prose, no statement
        'e = "delete the file, then sync again"\n'
    )
    assert [line for line, _text in sql_strings(source)] == [1, 2, 3]


def test_the_store_holds_sql():
    assert any(sql_strings(path.read_text()) for path in STORE.glob("*.py"))
