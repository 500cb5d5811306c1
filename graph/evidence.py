"""The pack's evidence: `manifest.intoto.json`, its signature, and checking both.

The manifest is a DSSE envelope (securesystemslib's `dsse.Envelope`) whose payload is an
in-toto Statement v1, serialised as RFC 8785 canonical JSON (the `rfc8785` package): its
subjects are every other file of the pack with its SHA-256, its predicate the provenance of
the population (`provenance`). `idgraph export --sign KEY` signs it with an Ed25519 key
(pyca/cryptography through securesystemslib's `CryptoSigner`); Ed25519 signatures are
deterministic, so the same run exported twice gives the same envelope, byte for byte.
docs/evidence.md says what each part proves and how to check it without idgraph.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .files import check_writable, safe_file
from .interfaces import ConfigError
from .store.chain import (
    decisions_of_run,
    latest_decided_run,
    ledger_digests,
    population_counts,
)

if TYPE_CHECKING:
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner, SSlibKey

    from .review import ReviewContext

MANIFEST_NAME = "manifest.intoto.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:idgraph:predicate:access-review-evidence:v1"
UNSIGNED = (
    "unsigned: exported without --sign; the digests show a file changed only against a "
    "copy of this manifest kept apart from the pack"
)
_CHUNK = 1 << 20


class KeyProblem(ConfigError):
    """A key file idgraph cannot use (exit 3)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pack_entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    """The folder's entries but the manifest, by name (not its subfolders' content)."""
    with os.scandir(folder) as entries:
        found = sorted((e for e in entries if e.name != MANIFEST_NAME), key=lambda e: e.name)
    yield from found


def subjects(folder: Path) -> list[dict[str, Any]]:
    """Every regular file of the pack with its SHA-256: the Statement's subjects."""
    return [
        {"name": entry.name, "digest": {"sha256": sha256_file(Path(entry.path))}}
        for entry in pack_entries(folder)
        if entry.is_file(follow_symlinks=False)
    ]


# -- keys -----------------------------------------------------------------------------------


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyProblem(f"{path}: cannot be read ({exc.strerror or exc})") from None


def load_signer(path: Path) -> CryptoSigner:
    """The Ed25519 private key of a PEM file (as `openssl genpkey -algorithm ed25519` or
    `idgraph keygen` make it) as a signer."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    try:
        key = load_pem_private_key(_read_key_file(path), password=None)
    except TypeError:
        raise KeyProblem(
            f"{path}: the key is encrypted; idgraph signs with an unencrypted PEM key"
        ) from None
    except ValueError:
        raise KeyProblem(f"{path}: not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"{path}: not an Ed25519 key (make one with `idgraph keygen`)")
    return CryptoSigner(key)


def load_public_key(path: Path) -> SSlibKey:
    """An Ed25519 public key from a PEM file (`KEY.pub`, or `openssl pkey -pubout`)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    try:
        key = load_pem_public_key(_read_key_file(path))
    except ValueError:
        raise KeyProblem(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem(f"{path}: not an Ed25519 public key")
    return SSlibKey.from_crypto(key)


def keygen(out: Path, *, force: bool = False) -> tuple[Path, Path]:
    """A new Ed25519 key: the private part at `out` (0600), the public one at `out.pub`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public_path = out.with_name(out.name + ".pub")
    check_writable(out, force=force)
    check_writable(public_path, force=force)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with safe_file(out, force=force, binary=True, permissions=0o600, exclusive=not force) as f:
        f.write(private_pem)
    with safe_file(public_path, force=force, binary=True, exclusive=not force) as f:
        f.write(public_pem)
    return out, public_path


# -- the manifest ---------------------------------------------------------------------------


def _version_of(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def _run_entry(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "kind": run.kind,
        "scope": run.scope,
        "started": run.started,
        "finished": run.finished,
        "status": run.status,
        "ledgerDigest": run.ledger_digest,
    }


def _attestations(context: ReviewContext) -> list[dict[str, Any]]:
    """The attestation in effect at the run, per connector and account."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for record in context.store.attestations():
        if record["run_id"] <= context.run.id:
            found.setdefault((record["connector"], record["account_label"]), record)
    digests = ledger_digests(context.store.conn, [a["run_id"] for a in found.values()])
    return [
        {
            "run": a["run_id"],
            "connector": a["connector"],
            "accountLabel": a["account_label"],
            "attestedBy": a["attested_by"],
            "attestedAt": a["attested_at"],
            "expiresAt": a["expires_at"],
            "members": a["members"],
            "memberFileSha256": a["file_sha256"],
            "evidence": a["evidence"],
            "evidenceSha256": a["evidence_sha256"],
            "ledgerDigest": digests.get(a["run_id"]),
        }
        for _connector, a in sorted(found.items())
    ]


def decisions_digest(rows: list[dict[str, Any]]) -> str:
    """The SHA-256 of a review's stored decision rows, as the predicate records it (and
    `verify PACK --db` recomputes it: an edited decision no longer matches)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode() + b"\n")
    return digest.hexdigest()


def _decisions(context: ReviewContext) -> dict[str, Any] | None:
    """The decisions of the latest review up to the run (as report.html shows them)."""
    decided = latest_decided_run(context.store.conn, context.run.id)
    rows = decisions_of_run(context.store.conn, decided) if decided is not None else []
    if not rows:
        return None
    sign_offs = sorted(
        {(r["imported_by"], r["imported_at"], r.get("sign_off") or "") for r in rows}
    )
    return {
        "run": decided,
        "count": len(rows),
        "byDecision": dict(sorted(Counter(r["decision"] for r in rows).items())),
        "reviewers": sorted({r["reviewer"] for r in rows}),
        "decisionFilesSha256": sorted({r["file_sha256"] for r in rows}),
        "rowsSha256": decisions_digest(rows),
        "signOffs": [{"by": by, "at": at, "statement": text} for by, at, text in sign_offs],
    }


def _source(run: Any) -> dict[str, Any]:
    """A run the pack reads (the latest complete one of its scope): its ledger entry and,
    for a sync, how it read the API."""
    entry = _run_entry(run)
    entry.update(
        connector=run.connector,
        accountLabel=run.account_label,
        credentialFingerprint=run.credential,
        rotatedFrom=run.rotated_from,
        pluginVersions=dict(sorted(run.plugin_versions.items())),
    )
    if run.kind == "sync":
        stats = run.stats
        entry["collection"] = {
            "requests": stats.get("requests"),
            "retries": stats.get("retries"),
            "throttled": stats.get("throttled"),
            "listings": stats.get("listings", {}),
            "nodesSeen": stats.get("nodes_seen"),
            "edgesSeen": stats.get("edges_seen"),
            "warnings": run.warnings,
        }
    return entry


def provenance(context: ReviewContext, signer_keyid: str | None) -> dict[str, Any]:
    """The predicate: where the population came from, how complete it is, who attested
    and decided what, and the ledger entry the pack was built from."""
    run, store = context.run, context.store
    changes = context.changes
    sources = [
        store.run(run_id) for run_id in sorted(set(store.latest_run_per_scope(run.id).values()))
    ]
    return {
        "idgraph": _version_of("idgraph"),
        "run": _run_entry(run),
        "sources": [_source(source) for source in sources if source.kind != "write"],
        "population": population_counts(store.conn, run.id),
        "accessPaths": context.row_count,
        "attestations": _attestations(context),
        "baseline": _run_entry(changes.since) if changes else None,
        "decisions": _decisions(context),
        "ledger": {"run": run.id, "digest": run.ledger_digest},
        "signature": {"algorithm": "ed25519", "keyid": signer_keyid} if signer_keyid else UNSIGNED,
    }


def statement(folder: Path, predicate: dict[str, Any]) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects(folder),
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def envelope_json(envelope: Envelope) -> str:
    return json.dumps(envelope.to_dict(), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class Predicate:
    """The manifest's predicate, worked out before the files are written: report.html
    shows its digest (a file of the pack cannot carry the digest of the manifest that
    lists it)."""

    value: dict[str, Any]
    sha256: str  # of its RFC 8785 canonical JSON


def predicate_of(context: ReviewContext, signer: CryptoSigner | None) -> Predicate:
    import rfc8785

    value = provenance(context, signer.public_key.keyid if signer else None)
    return Predicate(value, hashlib.sha256(rfc8785.dumps(value)).hexdigest())


def write_manifest(context: ReviewContext, folder: Path, signer: CryptoSigner | None) -> Path:
    """Write the manifest of the files now in `folder` (signed, with a signer)."""
    import rfc8785
    from securesystemslib.dsse import Envelope

    predicate = context.evidence or predicate_of(context, signer)
    payload = rfc8785.dumps(statement(folder, predicate.value))
    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    if signer is not None:
        envelope.sign(signer)
    path = folder / MANIFEST_NAME
    with safe_file(path) as handle:
        handle.write(envelope_json(envelope))
    return path


# -- verifying ------------------------------------------------------------------------------


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0
    predicate: dict[str, Any] = field(default_factory=dict)


def read_envelope(pack: Path) -> Envelope:
    from securesystemslib.dsse import Envelope

    path = pack / MANIFEST_NAME
    if not pack.is_dir():
        raise ConfigError(f"{pack}: not a folder (give the pack's folder)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        envelope = Envelope.from_dict(data)
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing; this folder is not an idgraph pack") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a DSSE envelope ({exc})") from None
    if envelope.payload_type != PAYLOAD_TYPE:
        raise ConfigError(f"{path}: payloadType is {envelope.payload_type!r}, not {PAYLOAD_TYPE}")
    return envelope


def _statement_of(envelope: Envelope, path: Path) -> dict[str, Any]:
    try:
        found = json.loads(envelope.payload)
    except ValueError as exc:
        raise ConfigError(f"{path}: the payload is not JSON ({exc})") from None
    if not isinstance(found, dict) or found.get("predicateType") != PREDICATE_TYPE:
        raise ConfigError(f"{path}: not an idgraph statement (predicateType {PREDICATE_TYPE})")
    return found


def check_files(pack: Path, listed: list[dict[str, Any]], verdict: Verdict) -> None:
    """Each subject's digest, each file missing, each entry not in the manifest."""
    expected = {s["name"]: s["digest"]["sha256"] for s in listed}
    for entry in pack_entries(pack):
        want = expected.pop(entry.name, None)
        if want is None:
            verdict.problems.append(f"{entry.name}: added (not in the manifest)")
        elif not stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
            verdict.problems.append(f"{entry.name}: changed (no longer a plain file)")
        elif sha256_file(Path(entry.path)) != want:
            verdict.problems.append(f"{entry.name}: changed (its SHA-256 differs)")
        else:
            verdict.files += 1
    for name in sorted(expected):
        verdict.problems.append(f"{name}: missing")


def check_signature(envelope: Envelope, key_path: Path | None, verdict: Verdict) -> None:
    from securesystemslib.exceptions import VerificationError

    signed_by = sorted(envelope.signatures)
    if key_path is None:
        verdict.notes.append(
            f"signed by key {', '.join(signed_by)}, but the signature was NOT checked: "
            "without --key PUB only the digests are (anyone can rewrite digests)"
            if signed_by
            else "the manifest is not signed"
        )
        return
    key = load_public_key(key_path)
    if not signed_by:
        verdict.problems.append(f"{MANIFEST_NAME}: not signed, but --key was given")
    elif key.keyid not in envelope.signatures:
        verdict.problems.append(
            f"{MANIFEST_NAME}: signed by another key ({', '.join(signed_by)}), not {key_path} "
            f"({key.keyid})"
        )
    else:
        try:
            envelope.verify([key], 1)
        except VerificationError:
            verdict.problems.append(f"{MANIFEST_NAME}: bad signature for {key_path}")
        else:
            verdict.notes.append(f"signature good: key {key.keyid}")


def verify_pack(pack: Path, key_path: Path | None = None) -> Verdict:
    """Every digest of the manifest and, with a public key, its signature."""
    envelope = read_envelope(pack)
    found = _statement_of(envelope, pack / MANIFEST_NAME)
    verdict = Verdict(predicate=found.get("predicate") or {})
    check_files(pack, found.get("subject") or [], verdict)
    check_signature(envelope, key_path, verdict)
    return verdict
