"""``python -m migrations``: deploy the ledger to a chain and record it (idempotent)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.chain.deployments import DEPLOYMENTS_DIR
from client.chain.errors import LedgerError
from client.chain.ledger import connect
from client.chain.records import Admission, LedgerParams, ThresholdMode
from client.errors import FppdlError
from migrations.runner import run_migrations


class UsageError(FppdlError, ValueError):
    """Bad command-line input."""


def _load_account(args: argparse.Namespace) -> LocalAccount:
    if args.key_file:
        path = Path(args.key_file)
        if not path.is_file():
            raise UsageError(f"key file {path} does not exist")
        key = path.read_text().strip()
    elif args.private_key_env:
        key = os.environ.get(args.private_key_env, "").strip()
        if not key:
            raise UsageError(f"environment variable {args.private_key_env} is empty or unset")
    else:
        raise UsageError("give --key-file PATH or --private-key-env VAR")
    try:
        account: LocalAccount = Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"not a valid private key: {type(exc).__name__}") from None
    return account


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m migrations``."""
    d = LedgerParams(model_size=1)
    p = argparse.ArgumentParser(prog="python -m migrations", description=__doc__)
    p.add_argument("--rpc-url", required=True, help="JSON-RPC endpoint, e.g. http://127.0.0.1:8545")
    p.add_argument("--key-file", help="file holding the deployer's hex private key")
    p.add_argument("--private-key-env", help="environment variable holding the hex private key")
    p.add_argument("--deployments-dir", default=str(DEPLOYMENTS_DIR))
    p.add_argument("--force", action="store_true", help="redeploy even if a live ledger exists")
    p.add_argument("--model-size", type=int, required=True, help="|w|, model parameter count")
    p.add_argument("--min-parties", type=int, default=d.min_parties)
    p.add_argument("--max-parties", type=int, default=d.max_parties)
    p.add_argument("--rounds", type=int, default=d.rounds,
                   help="rounds after which the consortium is finished")
    p.add_argument("--registration-blocks", type=int, default=d.registration_blocks,
                   help="registration stays open this many blocks from the deployment")
    p.add_argument("--benchmark-blocks", type=int, default=d.benchmark_blocks)
    p.add_argument("--request-blocks", type=int, default=d.request_blocks)
    p.add_argument("--upload-blocks", type=int, default=d.upload_blocks)
    p.add_argument("--settle-blocks", type=int, default=d.settle_blocks)
    p.add_argument("--quorum", default="2/3", help="removal quorum num/den (default 2/3)")
    p.add_argument("--threshold-mode", choices=["paper", "authors"], default="authors")
    p.add_argument("--threshold", default=None,
                   help="c_th factor num/den (default 2/3 for paper, 1/3 for authors)")
    p.add_argument("--admission", choices=[a.name.lower() for a in Admission],
                   default=d.admission.name.lower(),
                   help="who may register (open: anyone, devnets and tests only)")
    p.add_argument("--allow", action="append", default=[], metavar="ADDRESS",
                   help="admit ADDRESS at deployment (repeat; founders under --admission vote)")
    p.add_argument("--admission-quorum", default="1/2",
                   help="vote admission: share of admitted members whose votes admit (num/den)")
    p.add_argument("--registration-deposit", type=int, default=d.registration_deposit,
                   help="wei each party deposits at registration (refunded once finished)")
    p.add_argument("--min-data-size", type=int, default=d.min_data_size)
    p.add_argument("--max-data-size", type=int, default=d.max_data_size)
    p.add_argument("--max-sharing-level", default="1/2",
                   help="largest u_i / |D_i| a party may claim (num/den)")
    p.add_argument("--min-uploaders", type=int, default=d.min_uploaders,
                   help="fewest uploaders a nonempty DOWNLOAD names (1 only for 2 parties: "
                        "their sums hide nothing)")
    p.add_argument("--claim-deposit", type=int, default=d.claim_deposit,
                   help="points deposited with a claim (and fined from a cheating uploader)")
    p.add_argument("--response-blocks", type=int, default=d.response_blocks,
                   help="blocks an uploader has to answer a claim")
    p.add_argument("--vote-blocks", type=int, default=d.vote_blocks,
                   help="blocks the credible set has to vote on an answered claim")
    p.add_argument("--retention-blocks", type=int, default=d.retention_blocks,
                   help="blocks content stays retained after its round closes")
    p.add_argument("--settings-file", type=Path,
                   help="consortium-wide settings (client-encoded bytes, at most 4096)")
    return p


def _ratio(text: str, name: str) -> tuple[int, int]:
    try:
        num, den = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--{name} must look like 2/3, got {text!r}") from None
    return num, den


def _settings(path: Path | None) -> bytes:
    if path is None:
        return b""
    if not path.is_file():
        raise UsageError(f"settings file {path} does not exist")
    return path.read_bytes()


def _address(text: str) -> str:
    try:
        return str(Web3.to_checksum_address(text))
    except ValueError:
        raise UsageError(f"--allow needs an address, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        account = _load_account(args)
        w3 = connect(args.rpc_url)
        if not w3.is_connected():
            raise UsageError(f"no JSON-RPC node answers at {args.rpc_url}")
        mode = ThresholdMode.PAPER if args.threshold_mode == "paper" else ThresholdMode.AUTHORS
        threshold = args.threshold or ("2/3" if mode is ThresholdMode.PAPER else "1/3")
        qn, qd = _ratio(args.quorum, "quorum")
        tn, td = _ratio(threshold, "threshold")
        an, ad = _ratio(args.admission_quorum, "admission-quorum")
        sn, sd = _ratio(args.max_sharing_level, "max-sharing-level")
        params = LedgerParams(
            model_size=args.model_size,
            min_parties=args.min_parties,
            max_parties=args.max_parties,
            rounds=args.rounds,
            registration_blocks=args.registration_blocks,
            benchmark_blocks=args.benchmark_blocks,
            request_blocks=args.request_blocks,
            upload_blocks=args.upload_blocks,
            settle_blocks=args.settle_blocks,
            quorum_numerator=qn,
            quorum_denominator=qd,
            threshold_mode=mode,
            threshold_numerator=tn,
            threshold_denominator=td,
            admission=Admission[args.admission.upper()],
            admission_quorum_numerator=an,
            admission_quorum_denominator=ad,
            registration_deposit=args.registration_deposit,
            min_data_size=args.min_data_size,
            max_data_size=args.max_data_size,
            max_sharing_numerator=sn,
            max_sharing_denominator=sd,
            allowlist=tuple(_address(a) for a in args.allow),
            min_uploaders=args.min_uploaders,
            claim_deposit=args.claim_deposit,
            response_blocks=args.response_blocks,
            vote_blocks=args.vote_blocks,
            retention_blocks=args.retention_blocks,
            settings=_settings(args.settings_file),
        )
        outcomes = run_migrations(
            w3, account, params, directory=Path(args.deployments_dir), force=args.force
        )
    except (UsageError, LedgerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for o in outcomes:
        line = {"step": o.step, "action": o.action, "note": o.note, **o.deployment.to_json()}
        print(json.dumps(line, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
