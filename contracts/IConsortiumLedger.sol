// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IConsortiumLedger
/// @notice Events, errors and types of the fppdl consortium ledger: registration (the paper's
/// init transactions), points, the credible party set, and the DOWNLOAD / UPLOAD rounds.
/// @dev Integers only. Rounds and deadlines are counted in block numbers.
interface IConsortiumLedger {
    /// @notice Life-cycle phase of the consortium, as returned by `phase()`.
    /// Registration: parties register. Benchmarking: epoch 0 (Algorithm 1), between
    /// registration and round 1. Request / Upload / Settle: the three phases of round t >= 1.
    enum Phase {
        Registration,
        Benchmarking,
        Request,
        Upload,
        Settle
    }

    /// @notice Membership status of an address.
    enum Status {
        None,
        Credible,
        Removed
    }

    /// @notice Status of one (round, requester, uploader) request.
    enum RequestStatus {
        None,
        Open,
        Fulfilled
    }

    /// @notice Deployment parameters; immutable and readable through `parameters()`.
    /// @param modelSize |w|, the number of model parameters (paper eq. 2).
    /// @param minParties fewest registrations that allow closing registration.
    /// @param maxParties most registrations; also caps every array argument.
    /// @param registrationDeadline block number from which registration is over.
    /// @param benchmarkBlocks length in blocks of epoch 0 (initial benchmarking).
    /// @param requestBlocks length in blocks of a round's REQUEST phase.
    /// @param uploadBlocks length in blocks of a round's UPLOAD phase.
    /// @param settleBlocks length in blocks of a round's SETTLE (evaluation) phase.
    /// @param quorumNumerator removal quorum numerator (2 for ceil(2/3 |C|)).
    /// @param quorumDenominator removal quorum denominator (3 for ceil(2/3 |C|)).
    /// @param thresholdMode 0: c_th = (num/den) / |C| (paper); 1: c_th = (num/den) / (|C|-1) (authors' code).
    /// @param thresholdNumerator numerator of the low-quality credibility threshold factor.
    /// @param thresholdDenominator denominator of the low-quality credibility threshold factor.
    /// @param maxEncKeyLength longest accepted encryption public key, in bytes.
    struct Parameters {
        uint64 modelSize;
        uint16 minParties;
        uint16 maxParties;
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
        uint32 maxEncKeyLength;
    }

    // ----------------------------------------------------------------------------- events

    /// @notice A party registered (the paper's init transaction).
    event PartyRegistered(
        address indexed party,
        uint256 index,
        uint64 dataSize,
        uint64 samplesReleased,
        bytes32 samplesDigest,
        bytes encPubKey
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
    /// @notice An UPLOAD transaction: `uploader` committed ciphertext digests for `requesters`
    /// and was paid the escrowed points of each fulfilled request.
    event CiphertextsUploaded(
        uint64 indexed round, address indexed uploader, address[] requesters, bytes32[] digests
    );
    /// @notice `party` is done with epoch `round` and voted to close it.
    event RoundCloseVoted(uint64 indexed round, address indexed party);
    /// @notice Epoch `round` closed, by unanimity of the credible set or after its deadline.
    event RoundClosed(uint64 indexed round, address closer, bool byDeadline);
    /// @notice Unspent escrow of an earlier round went back to `party`'s balance.
    event EscrowReleased(address indexed party, uint64 round, uint256 amount);
    /// @notice `reporter` named `suspects` as low-quality parties for `epoch`.
    event LowQualityReported(uint64 indexed epoch, address indexed reporter, address[] suspects);
    /// @notice `party` left the credible set after a quorum of `reporters` named it in `epoch`.
    event PartyRemoved(address indexed party, uint64 indexed epoch, address[] reporters);
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
    /// @notice An encryption public key of `length` bytes; 1..`maxLength` are accepted.
    error InvalidEncryptionKey(uint256 length, uint256 maxLength);
    /// @notice u_i = `samplesReleased` must satisfy 1 <= u_i <= |D_i| = `dataSize`.
    error InvalidSampleCounts(uint64 dataSize, uint64 samplesReleased);
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
    /// @notice Reports and commitments may name epochs up to `currentRound`, not `epoch`.
    error FutureEpoch(uint64 epoch, uint64 currentRound);
    /// @notice `reporter` already reported `suspect` in `epoch`.
    error AlreadyReported(uint64 epoch, address reporter, address suspect);
    /// @notice `kind` is not one of the message kinds of the ledger.
    error UnknownMessageKind(uint8 kind);
    /// @notice `party` has no escrow of a closed round to release.
    error NothingToRelease(address party);
}
