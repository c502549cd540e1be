// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IConsortiumLedger
/// @notice Events, errors and types of the fppdl consortium ledger: admission and registration
/// (the paper's init transactions), points, the credible party set, the DOWNLOAD / UPLOAD
/// rounds with payments escrowed until their dispute window closes, and claims with deposits.
/// @dev Integers only. Rounds and deadlines are counted in block numbers. Every state change
/// emits an event carrying its amounts, so the whole ledger can be replayed from its logs.
interface IConsortiumLedger {
    /// @notice Life-cycle phase of the consortium, as returned by `phase()`.
    /// Registration: parties register. Benchmarking: epoch 0 (Algorithm 1), between
    /// registration and round 1. Request / Upload / Settle: the three phases of round t >= 1.
    /// Finished: the last round (`rounds`) closed.
    enum Phase {
        Registration,
        Benchmarking,
        Request,
        Upload,
        Settle,
        Finished
    }

    /// @notice Membership status of an address.
    enum Status {
        None,
        Credible,
        Removed
    }

    /// @notice Status of one (round, requester, uploader) request.
    /// Skipped: the requester was no longer credible when the uploader served the round, and
    /// its escrow for this request went back to it. Disputed: fulfilled, then claimed against.
    enum RequestStatus {
        None,
        Open,
        Fulfilled,
        Skipped,
        Disputed
    }

    /// @notice What a requester claims about a delivered envelope. Missing: not retrievable,
    /// or not matching its committed digest. Undecryptable: layers 2-3 do not open.
    /// Malformed: it opens, but layer 1 is not a well-formed masked update.
    enum ClaimKind {
        None,
        Missing,
        Undecryptable,
        Malformed
    }

    /// @notice Life cycle of a claim. Filed: awaiting the uploader's response. Answered: the
    /// uploader responded; the credible set votes. Upheld / Rejected: resolved.
    enum ClaimState {
        None,
        Filed,
        Answered,
        Upheld,
        Rejected
    }

    /// @notice Why a claim was resolved. Silence: no response by the response deadline.
    /// Votes: a majority of the eligible voters. Deadline: the vote deadline passed (upheld
    /// only with more upholding than rejecting votes). Concession: one side gave up.
    enum ClaimResolution {
        Silence,
        Votes,
        Deadline,
        Concession
    }

    /// @notice Who may register. Open: anyone (devnets and tests only: it admits sybils).
    /// Allowlist: the addresses the deployer listed. Vote: the listed founders, plus any
    /// address admitted by a vote of already-admitted members.
    enum Admission {
        Open,
        Allowlist,
        Vote
    }

    /// @notice Deployment parameters; immutable and readable through `parameters()`.
    /// @param modelSize |w|, the number of model parameters (paper eq. 2).
    /// @param minParties fewest registrations that allow closing registration.
    /// @param maxParties most registrations; also caps every array argument.
    /// @param rounds number of rounds; the consortium is Finished when round `rounds` closes.
    /// @param registrationBlocks length of registration in blocks, from the deployment block.
    /// @param registrationDeadline block from which registration is over; 0 at deployment
    /// means deployment block + registrationBlocks (`parameters()` returns both, consistent).
    /// @param benchmarkBlocks length in blocks of epoch 0 (initial benchmarking).
    /// @param requestBlocks length in blocks of a round's REQUEST phase.
    /// @param uploadBlocks length in blocks of a round's UPLOAD phase.
    /// @param settleBlocks length in blocks of a round's SETTLE (evaluation) phase.
    /// @param quorumNumerator removal quorum numerator (2 for ceil(2/3 |C|)).
    /// @param quorumDenominator removal quorum denominator (3 for ceil(2/3 |C|)).
    /// @param thresholdMode 0: c_th = (num/den) / |C| (paper); 1: c_th = (num/den) / (|C|-1) (authors' code).
    /// @param thresholdNumerator numerator of the low-quality credibility threshold factor.
    /// @param thresholdDenominator denominator of the low-quality credibility threshold factor.
    /// @param admission who may register (see `Admission`).
    /// @param admissionQuorumNumerator Vote admission: ceil(num/den * admitted) votes admit.
    /// @param admissionQuorumDenominator denominator of the admission quorum.
    /// @param registrationDeposit exact wei sent with `register`; withdrawable once Finished
    /// by a party that was not removed (0: no deposit).
    /// @param minDataSize smallest accepted |D_i|.
    /// @param maxDataSize largest accepted |D_i|.
    /// @param maxSharingNumerator u_i <= |D_i| * num / den bounds the claimed sharing level,
    /// hence the points p_i = floor(u_i |w| (n-1) / |D_i|) anyone can mint.
    /// @param maxSharingDenominator denominator of the largest sharing level.
    /// @param minUploaders a nonempty DOWNLOAD names at least this many uploaders, so no sum
    /// is one sender's update in clear (1 only for two-party consortia: their sums hide nothing).
    /// @param claimDeposit points a requester deposits with a claim; an upheld claim fines the
    /// uploader as much.
    /// @param responseBlocks blocks after filing for the uploader to answer a claim.
    /// @param voteBlocks blocks after the response deadline for the credible set to vote.
    /// @param retentionBlocks blocks after a round closes during which its delivered content
    /// must stay retrievable; at least responseBlocks + voteBlocks, so content outlives every
    /// claim against it.
    struct Parameters {
        uint64 modelSize;
        uint16 minParties;
        uint16 maxParties;
        uint32 rounds;
        uint64 registrationBlocks;
        uint64 registrationDeadline;
        uint32 benchmarkBlocks;
        uint32 requestBlocks;
        uint32 uploadBlocks;
        uint32 settleBlocks;
        uint16 quorumNumerator;
        uint16 quorumDenominator;
        uint8 thresholdMode;
        uint32 thresholdNumerator;
        uint32 thresholdDenominator;
        Admission admission;
        uint16 admissionQuorumNumerator;
        uint16 admissionQuorumDenominator;
        uint128 registrationDeposit;
        uint64 minDataSize;
        uint64 maxDataSize;
        uint32 maxSharingNumerator;
        uint32 maxSharingDenominator;
        uint16 minUploaders;
        uint64 claimDeposit;
        uint32 responseBlocks;
        uint32 voteBlocks;
        uint32 retentionBlocks;
    }

    /// @notice One claim, as returned by `claim(id)`.
    struct Claim {
        address requester;
        uint32 round;
        ClaimKind kind;
        ClaimState state;
        address uploader;
        uint64 amount;
        uint64 responseDeadline;
        uint64 voteDeadline;
        bytes32 digest;
        bytes32 revealedKey;
    }

    // ----------------------------------------------------------------------------- events

    /// @notice The ledger was deployed with `params`; registration is open until
    /// `params.registrationDeadline`. `settings` (digest `settingsDigest`) are the
    /// consortium-wide settings every party must share, opaque to the ledger.
    event LedgerDeployed(
        Parameters params, uint256 allowlisted, bytes32 settingsDigest, bytes settings
    );
    /// @notice `party` may register: listed by the deployer (`byVote` false) or voted in.
    event PartyAdmitted(address indexed party, bool byVote, uint256 admittedCount);
    /// @notice `voter` voted to admit `candidate`, which now has `votes` of the `quorum` needed.
    event AdmissionVoted(
        address indexed candidate, address indexed voter, uint256 votes, uint256 quorum
    );
    /// @notice A party registered (the paper's init transaction), paying `deposit` wei.
    event PartyRegistered(
        address indexed party,
        uint256 index,
        uint64 dataSize,
        uint64 samplesReleased,
        bytes32 samplesDigest,
        bytes encPubKey,
        uint256 deposit
    );
    /// @notice Registration closed; every registered party is credible and was minted points.
    event RegistrationClosed(uint256 partyCount, uint256 totalPoints, uint64 benchmarkDeadline);
    /// @notice Initial points p_i = floor(u_i |w| (n-1) / |D_i|) were minted to `party`.
    event PointsMinted(address indexed party, uint256 amount);
    /// @notice Round `round` opened with these absolute phase deadlines (block numbers).
    event RoundOpened(
        uint64 indexed round, uint64 requestDeadline, uint64 uploadDeadline, uint64 settleDeadline
    );
    /// @notice A DOWNLOAD transaction: `requester` escrowed `amounts[j]` for `uploaders[j]`.
    event DownloadRequested(
        uint64 indexed round, address indexed requester, address[] uploaders, uint256[] amounts
    );
    /// @notice An UPLOAD transaction: `uploader` committed ciphertext digests for `requesters`;
    /// the escrow of the requests it fulfilled, `pending` points in total, is now pending for
    /// it until round `round`'s dispute window closes (requests skipped because their requester
    /// was removed are listed too, with a `RequestSkipped` event). `accumulator` is the new
    /// value of the uploader's hash chain (see `uploadAccumulator`).
    event CiphertextsUploaded(
        uint64 indexed round,
        address indexed uploader,
        address[] requesters,
        bytes32[] digests,
        uint256 pending,
        bytes32 accumulator
    );
    /// @notice `uploader`'s pending payment of `round`, `amount` points, was credited to its
    /// balance: the round's dispute window closed without a claim against it.
    event PaymentCredited(address indexed uploader, uint64 round, uint256 amount);
    /// @notice `uploader` skipped the request of `requester`, removed since it requested, and
    /// the request's `refunded` points went back from escrow to the requester's balance.
    event RequestSkipped(
        uint64 indexed round, address indexed requester, address indexed uploader, uint256 refunded
    );
    /// @notice `party` is done with epoch `round` and voted to close it.
    event RoundCloseVoted(uint64 indexed round, address indexed party);
    /// @notice Epoch `round` closed, by unanimity of the credible set or after its deadline.
    event RoundClosed(uint64 indexed round, address closer, bool byDeadline);
    /// @notice The last round `lastRound` closed: the consortium is over.
    event ConsortiumFinished(uint64 lastRound, uint256 credibleCount);
    /// @notice Unspent escrow of an earlier round went back to `party`'s balance.
    event EscrowReleased(address indexed party, uint64 round, uint256 amount);
    /// @notice `reporter` named `suspects` as low-quality parties for `epoch`.
    event LowQualityReported(uint64 indexed epoch, address indexed reporter, address[] suspects);
    /// @notice `party` left the credible set after the credible `reporters` (a quorum of the
    /// credible set) named it in `epoch`; a registration deposit of `forfeited` wei stays locked.
    event PartyRemoved(
        address indexed party, uint64 indexed epoch, address[] reporters, uint256 forfeited
    );
    /// @notice `party` withdrew its registration deposit of `amount` wei.
    event DepositWithdrawn(address indexed party, uint256 amount);
    /// @notice `requester` claimed that `uploader`'s delivery of `round` (committed digest
    /// `digest`, paid `amount` points, now held) is bad, depositing `deposit` points.
    event ClaimFiled(
        uint256 indexed claimId,
        uint64 indexed round,
        address indexed requester,
        address uploader,
        ClaimKind kind,
        bytes32 digest,
        uint256 amount,
        uint256 deposit,
        uint64 responseDeadline,
        uint64 voteDeadline
    );
    /// @notice The uploader answered claim `claimId`: for Missing, it declared it re-published
    /// bytes matching the digest (`revealedKey` zero); otherwise it revealed the envelope's
    /// layer-2 key `revealedKey`, which the envelope commits to.
    event ClaimAnswered(uint256 indexed claimId, address indexed uploader, bytes32 revealedKey);
    /// @notice Credible `voter` found claim `claimId` true (`upheld`) or false.
    event ClaimVoted(uint256 indexed claimId, address indexed voter, bool upheld);
    /// @notice Claim `claimId` was resolved. Upheld: the held `payment` and the `deposit` went
    /// back to the requester and `fine` points moved from the uploader's balance to it.
    /// Rejected: `payment` and the forfeited `deposit` went to the uploader (`fine` is 0).
    event ClaimResolved(
        uint256 indexed claimId,
        address indexed requester,
        address indexed uploader,
        bool upheld,
        ClaimResolution cause,
        uint256 payment,
        uint256 deposit,
        uint256 fine
    );
    /// @notice An upheld claim counted as `reporter`'s low-quality report of `suspect` for
    /// epoch `epoch` (the claim's round), towards its removal quorum.
    event ClaimCountedAsReport(
        uint256 indexed claimId, uint64 indexed epoch, address reporter, address suspect
    );
    /// @notice `sender` committed digests of off-chain messages of `kind` sent to `recipients`;
    /// `accumulator` is the new hash chain value stored for (epoch, kind, sender).
    event MessagesCommitted(
        uint64 indexed epoch,
        uint8 indexed kind,
        address indexed sender,
        address[] recipients,
        bytes32[] digests,
        bytes32 accumulator
    );

    // ----------------------------------------------------------------------------- errors

    /// @notice The call needs phase `expected`; the ledger is in phase `actual`.
    error WrongPhase(Phase expected, Phase actual);
    /// @notice A deployment parameter is invalid; `name` says which.
    error InvalidParameter(string name);
    /// @notice `party` has never registered.
    error NotRegistered(address party);
    /// @notice `party` is not in the credible set.
    error NotCredible(address party);
    /// @notice `party` is already registered.
    error AlreadyRegistered(address party);
    /// @notice Registration already holds `maxParties` parties.
    error RegistryFull(uint256 maxParties);
    /// @notice Registration ended at block `deadline`; the current block is `blockNumber`.
    error RegistrationDeadlinePassed(uint64 deadline, uint256 blockNumber);
    /// @notice Registration cannot be closed before block `deadline` unless it is full.
    error RegistrationStillOpen(uint64 deadline, uint256 registered, uint256 maxParties);
    /// @notice Only `registered` parties registered; at least `minParties` are needed.
    error NotEnoughParties(uint256 registered, uint256 minParties);
    /// @notice `party` was not admitted (allowlist or vote) and cannot register or vote.
    error NotAdmitted(address party);
    /// @notice `party` is already admitted.
    error AlreadyAdmitted(address party);
    /// @notice Admission by vote is not enabled: the deployment's admission mode is `mode`.
    error AdmissionByVoteDisabled(Admission mode);
    /// @notice `voter` already voted to admit `candidate`.
    error AlreadyVotedToAdmit(address voter, address candidate);
    /// @notice `admitted` addresses are admitted already; at most `maxParties` may be.
    error AdmissionFull(uint256 admitted, uint256 maxParties);
    /// @notice `sent` wei were sent with `register`; exactly `required` are needed.
    error WrongDeposit(uint256 sent, uint256 required);
    /// @notice Deposits can be withdrawn once the consortium is Finished (or its registration
    /// failed); the ledger is in phase `phase`.
    error DepositLocked(Phase phase);
    /// @notice `party` has no registration deposit to withdraw (none paid, or withdrawn).
    error NothingToWithdraw(address party);
    /// @notice `party` was removed: its registration deposit is forfeited.
    error DepositForfeit(address party);
    /// @notice Sending `amount` wei back to `party` failed.
    error DepositTransferFailed(address party, uint256 amount);
    /// @notice An encryption public key of `length` bytes; exactly `x25519Length` (X25519) or
    /// `hybridLength` (X25519 || ML-KEM-768) bytes are accepted.
    error InvalidEncryptionKey(uint256 length, uint256 x25519Length, uint256 hybridLength);
    /// @notice The X25519 key `key` (little-endian u-coordinate) has small order: every shared
    /// secret computed with it is predictable, and peers refuse it.
    error WeakEncryptionKey(bytes32 key);
    /// @notice u_i = `samplesReleased` must satisfy 1 <= u_i <= |D_i| = `dataSize`.
    error InvalidSampleCounts(uint64 dataSize, uint64 samplesReleased);
    /// @notice |D_i| = `dataSize` lies outside [`minDataSize`, `maxDataSize`].
    error DataSizeOutOfRange(uint64 dataSize, uint64 minDataSize, uint64 maxDataSize);
    /// @notice u_i / |D_i| = `samplesReleased` / `dataSize` exceeds the largest sharing level
    /// `maxNumerator` / `maxDenominator`.
    error SharingLevelTooHigh(
        uint64 dataSize, uint64 samplesReleased, uint32 maxNumerator, uint32 maxDenominator
    );
    /// @notice A zero digest was given where a content digest is required.
    error ZeroDigest();
    /// @notice Two parallel arrays have lengths `first` and `second`.
    error LengthMismatch(uint256 first, uint256 second);
    /// @notice An array has `count` entries; at most `maxEntries` are accepted.
    error TooManyEntries(uint256 count, uint256 maxEntries);
    /// @notice `party` named itself where another party is required.
    error SelfReference(address party);
    /// @notice `party` appears twice in one array.
    error DuplicateEntry(address party);
    /// @notice A request to `uploader` of zero points.
    error ZeroAmount(address uploader);
    /// @notice `party` has `available` spendable points but `needed` are required.
    error InsufficientPoints(address party, uint256 available, uint256 needed);
    /// @notice `party` already sent its DOWNLOAD transaction of `round`.
    error AlreadyRequested(address party, uint64 round);
    /// @notice `party` already sent its UPLOAD transaction of `round`.
    error AlreadyUploaded(address party, uint64 round);
    /// @notice Nobody requested anything from `uploader` in `round`.
    error NothingRequested(address uploader, uint64 round);
    /// @notice No open request of `requester` to `uploader` in `round`.
    error RequestNotOpen(uint64 round, address requester, address uploader);
    /// @notice `party` already voted to close `round`, and the round cannot close yet.
    error AlreadyVoted(address party, uint64 round);
    /// @notice Commitments may name epochs up to `currentRound`, not `epoch`.
    error FutureEpoch(uint64 epoch, uint64 currentRound);
    /// @notice Reports are accepted only for the current epoch `currentRound` inside its
    /// assessment window (epoch 0: Benchmarking; round t: its Settle phase); this one names
    /// `epoch` in phase `phase`.
    error ReportOutsideWindow(uint64 epoch, uint64 currentRound, Phase phase);
    /// @notice `reporter` already reported `suspect` in `epoch`.
    error AlreadyReported(uint64 epoch, address reporter, address suspect);
    /// @notice `kind` is not one of the message kinds of the ledger.
    error UnknownMessageKind(uint8 kind);
    /// @notice `party` has no escrow of a closed round to release and no pending payment
    /// whose dispute window closed.
    error NothingToSettle(address party);
    /// @notice The consortium-wide settings are `length` bytes long; at most `maxLength`.
    error SettingsTooLong(uint256 length, uint256 maxLength);
    /// @notice A nonempty DOWNLOAD names `count` uploaders; at least `minUploaders` are needed.
    error TooFewUploaders(uint256 count, uint256 minUploaders);
    /// @notice `kind` is not a claim kind (Missing, Undecryptable or Malformed).
    error UnknownClaimKind(uint8 kind);
    /// @notice Claims against deliveries of `round` are accepted only while it is the current
    /// round (its Upload and Settle phases); the current epoch is `currentRound`.
    error ClaimWindowClosed(uint64 round, uint64 currentRound);
    /// @notice No fulfilled, unclaimed delivery of `uploader` to `requester` in `round`.
    error NotClaimable(uint64 round, address requester, address uploader);
    /// @notice The batch given does not reproduce `uploader`'s upload hash chain, or does not
    /// name the requester.
    error InvalidDeliveryProof(address uploader);
    /// @notice No claim has id `claimId`.
    error UnknownClaim(uint256 claimId);
    /// @notice Claim `claimId` is in state `actual`; the call needs `expected`.
    error WrongClaimState(uint256 claimId, ClaimState expected, ClaimState actual);
    /// @notice Claim `claimId` is of kind `kind`, which takes the other response.
    error WrongClaimKind(uint256 claimId, ClaimKind kind);
    /// @notice `caller` is not the side of claim `claimId` that may make this call.
    error NotClaimSide(uint256 claimId, address caller);
    /// @notice `voter` is a side of claim `claimId` and cannot vote on it.
    error ClaimSideCannotVote(uint256 claimId, address voter);
    /// @notice `voter` already voted on claim `claimId`.
    error AlreadyVotedOnClaim(uint256 claimId, address voter);
    /// @notice The deadline `deadline` of claim `claimId` passed (block `blockNumber`).
    error ClaimDeadlinePassed(uint256 claimId, uint64 deadline, uint256 blockNumber);
    /// @notice Claim `claimId` (state `state`) cannot be resolved before block `deadline`.
    error ClaimNotResolvable(uint256 claimId, ClaimState state, uint64 deadline);
}
