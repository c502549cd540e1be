// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IConsortiumLedger} from "./IConsortiumLedger.sol";

/// @title ConsortiumLedger
/// @notice Points ledger of one fppdl consortium (paper 001, section 3.2): admission and
/// registration with on-chain minting of initial points, the credible party set with quorum
/// removal, and coordinator-free rounds of DOWNLOAD (escrow) and UPLOAD (payment) transactions,
/// for a fixed number of rounds after which the consortium is Finished.
/// @dev Invariant: the sum over parties of balance + escrowed equals `totalPoints()` forever.
/// Every loop is bounded by `maxParties`. Unspent escrow of a closed round is released lazily
/// (on the party's next DOWNLOAD, or by anyone through `releaseEscrow`) so closing a round is O(1).
/// Admission `Open` lets any address register with self-declared sizes: it is meant for
/// devnets and tests only; a real consortium uses `Allowlist` or `Vote`.
contract ConsortiumLedger is IConsortiumLedger {
    /// @notice Message kind: mutual-evaluation labels sent privately to a sample owner.
    uint8 public constant KIND_LABELS = 1;
    /// @notice Message kind: dropout-recovery streams sent to a receiver.
    uint8 public constant KIND_RECOVERY = 2;
    /// @notice Message kind: local credibility vectors or other evaluation results.
    uint8 public constant KIND_EVALUATION = 3;
    /// @notice Threshold mode: c_th = (num/den) / |C| (the paper's (1/n)(2/3)).
    uint8 public constant THRESHOLD_PAPER = 0;
    /// @notice Threshold mode: c_th = (num/den) / (|C|-1) (the authors' code, (1/3)/(|C|-1)).
    uint8 public constant THRESHOLD_AUTHORS = 1;
    /// @notice Length in bytes of an X25519 public key.
    uint256 public constant X25519_KEY_LENGTH = 32;
    /// @notice Length in bytes of a hybrid key: X25519 (32) || ML-KEM-768 public key (1184).
    uint256 public constant HYBRID_KEY_LENGTH = 1216;

    // The X25519 field prime 2^255 - 19 and the two order-8 u-coordinates below it (with 0, 1
    // and p - 1, the small-order points libsodium refuses).
    uint256 private constant _P25519 =
        0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed;
    uint256 private constant _ORDER8_A =
        0x00b8495f16056286fdb1329ceb8d09da6ac49ff1fae35616aeb8413b7c7aebe0;
    uint256 private constant _ORDER8_B =
        0x57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5f;

    // Requests are packed four per storage word, keyed by (round, requester, uploader index / 4):
    // each 64-bit entry holds the amount in its low 62 bits, a fulfilled flag in the top bit and
    // a skipped flag below it, so a DOWNLOAD to n-1 uploaders writes ceil(n/4) fresh slots.
    uint256 private constant _ENTRIES_PER_WORD = 4;
    uint256 private constant _ENTRY_BITS = 64;
    uint256 private constant _ENTRY_MASK = type(uint64).max;
    uint256 private constant _FULFILLED = 1 << 63;
    uint256 private constant _SKIPPED = 1 << 62;
    uint256 private constant _AMOUNT_MASK = _SKIPPED - 1;

    // Hot slot of a party: everything a DOWNLOAD / UPLOAD touches on the paying side.
    struct Account {
        uint112 balance;
        uint112 escrowed;
        uint32 escrowRound;
    }

    // Membership and per-round activity, one slot: rounds are uint32 in storage.
    struct Membership {
        Status status;
        uint16 index;
        uint32 lastRequestRound;
        uint32 lastUploadRound;
        uint32 lastNamedRound;
        // Stored as round + 1 so that the zero default never reads as a vote for epoch 0.
        uint32 voteMark;
        bool admitted;
        bool depositHeld;
    }

    struct Profile {
        uint64 dataSize;
        uint64 samplesReleased;
        bytes32 samplesDigest;
        bytes encPubKey;
    }

    struct RoundState {
        uint64 start;
        uint16 requestCount;
        uint16 uploadersExpected;
        uint16 uploadCount;
        uint16 voteCount;
    }

    uint64 private immutable _modelSize;
    uint16 private immutable _minParties;
    uint16 private immutable _maxParties;
    uint32 private immutable _roundsTotal;
    uint64 private immutable _registrationBlocks;
    uint64 private immutable _registrationDeadline;
    uint32 private immutable _benchmarkBlocks;
    uint32 private immutable _requestBlocks;
    uint32 private immutable _uploadBlocks;
    uint32 private immutable _settleBlocks;
    uint16 private immutable _quorumNumerator;
    uint16 private immutable _quorumDenominator;
    uint8 private immutable _thresholdMode;
    uint32 private immutable _thresholdNumerator;
    uint32 private immutable _thresholdDenominator;
    Admission private immutable _admission;
    uint16 private immutable _admissionQuorumNumerator;
    uint16 private immutable _admissionQuorumDenominator;
    uint128 private immutable _registrationDeposit;
    uint64 private immutable _minDataSize;
    uint64 private immutable _maxDataSize;
    uint32 private immutable _maxSharingNumerator;
    uint32 private immutable _maxSharingDenominator;
    uint16 private immutable _allowlistLength;

    address[] private _parties;
    address[] private _admittedList;
    mapping(address => Account) private _accounts;
    mapping(address => Membership) private _members;
    mapping(address => Profile) private _profiles;
    mapping(address => uint16) private _admissionVotes;
    mapping(address => mapping(address => bool)) private _votedToAdmit;

    bool private _registrationClosed;
    bool private _finished;
    uint16 private _credibleCount;
    uint64 private _currentRound;
    uint256 private _totalPoints;
    mapping(uint64 => RoundState) private _rounds;
    mapping(bytes32 => uint256) private _requestWords;
    mapping(address => bytes32) private _uploadAccumulators;
    mapping(uint64 => mapping(address => address[])) private _reporters;
    mapping(uint64 => mapping(address => mapping(address => bool))) private _reported;
    mapping(bytes32 => bytes32) private _messageAccumulators;

    /// @notice Deploy a consortium ledger with immutable parameters.
    /// @param p the deployment parameters; see `IConsortiumLedger.Parameters`.
    /// @param allowlist the addresses admitted at deployment (empty for `Admission.Open`;
    /// the founders for `Admission.Vote`); at most `maxParties`, distinct and nonzero.
    constructor(Parameters memory p, address[] memory allowlist) {
        if (p.modelSize == 0) revert InvalidParameter("modelSize");
        if (p.minParties < 2) revert InvalidParameter("minParties");
        if (p.maxParties < p.minParties) revert InvalidParameter("maxParties");
        if (p.rounds == 0) revert InvalidParameter("rounds");
        uint64 deadline = p.registrationDeadline;
        if (deadline == 0) deadline = uint64(block.number) + p.registrationBlocks;
        if (deadline <= block.number) revert InvalidParameter("registrationDeadline");
        if (p.benchmarkBlocks == 0) revert InvalidParameter("benchmarkBlocks");
        if (p.requestBlocks == 0) revert InvalidParameter("requestBlocks");
        if (p.uploadBlocks == 0) revert InvalidParameter("uploadBlocks");
        if (p.settleBlocks == 0) revert InvalidParameter("settleBlocks");
        if (p.quorumDenominator == 0 || p.quorumNumerator == 0) revert InvalidParameter("quorum");
        if (p.quorumNumerator > p.quorumDenominator) revert InvalidParameter("quorum");
        if (p.thresholdMode > THRESHOLD_AUTHORS) revert InvalidParameter("thresholdMode");
        if (p.thresholdDenominator == 0) revert InvalidParameter("thresholdDenominator");
        if (
            p.admissionQuorumNumerator == 0
                || p.admissionQuorumNumerator > p.admissionQuorumDenominator
        ) revert InvalidParameter("admissionQuorum");
        if (p.minDataSize == 0 || p.maxDataSize < p.minDataSize) {
            revert InvalidParameter("dataSize");
        }
        // A sharing level above 1 would let u_i exceed |D_i|.
        if (p.maxSharingNumerator == 0 || p.maxSharingNumerator > p.maxSharingDenominator) {
            revert InvalidParameter("maxSharing");
        }
        // Every amount is bounded by the total minted, at most modelSize * (n-1) * n; it must fit
        // the 62-bit amount of a packed request entry.
        if (uint256(p.modelSize) * p.maxParties * p.maxParties > _AMOUNT_MASK) {
            revert InvalidParameter("modelSize");
        }
        uint256 listed = allowlist.length;
        if (p.admission == Admission.Open ? listed != 0 : listed == 0) {
            revert InvalidParameter("allowlist");
        }
        if (listed > p.maxParties) revert InvalidParameter("allowlist");
        // An allowlist-only consortium that can never reach minParties could never close.
        if (p.admission == Admission.Allowlist && listed < p.minParties) {
            revert InvalidParameter("allowlist");
        }
        _modelSize = p.modelSize;
        _minParties = p.minParties;
        _maxParties = p.maxParties;
        _roundsTotal = p.rounds;
        _registrationBlocks = deadline - uint64(block.number);
        _registrationDeadline = deadline;
        _benchmarkBlocks = p.benchmarkBlocks;
        _requestBlocks = p.requestBlocks;
        _uploadBlocks = p.uploadBlocks;
        _settleBlocks = p.settleBlocks;
        _quorumNumerator = p.quorumNumerator;
        _quorumDenominator = p.quorumDenominator;
        _thresholdMode = p.thresholdMode;
        _thresholdNumerator = p.thresholdNumerator;
        _thresholdDenominator = p.thresholdDenominator;
        _admission = p.admission;
        _admissionQuorumNumerator = p.admissionQuorumNumerator;
        _admissionQuorumDenominator = p.admissionQuorumDenominator;
        _registrationDeposit = p.registrationDeposit;
        _minDataSize = p.minDataSize;
        _maxDataSize = p.maxDataSize;
        _maxSharingNumerator = p.maxSharingNumerator;
        _maxSharingDenominator = p.maxSharingDenominator;
        // listed <= maxParties fits uint16.
        _allowlistLength = uint16(listed);
        p.registrationBlocks = deadline - uint64(block.number);
        p.registrationDeadline = deadline;
        emit LedgerDeployed(p, listed);
        for (uint256 i; i < listed; ++i) {
            address party = allowlist[i];
            if (party == address(0) || _members[party].admitted) {
                revert InvalidParameter("allowlist");
            }
            _admit(party, false);
        }
    }

    // ======================================================================== admission

    /// @notice Vote to admit `candidate` (admission mode `Vote` only). The candidate is admitted
    /// once ceil(num/den * admitted) admitted members voted for it; see `admissionQuorum`.
    /// @dev Admitted members stay admitted during registration, so no vote goes stale.
    /// @param candidate an address that is not admitted yet.
    function voteToAdmit(address candidate) external {
        if (_admission != Admission.Vote) revert AdmissionByVoteDisabled(_admission);
        _requireOpenRegistration();
        if (!_members[msg.sender].admitted) revert NotAdmitted(msg.sender);
        if (candidate == msg.sender) revert SelfReference(candidate);
        if (_members[candidate].admitted) revert AlreadyAdmitted(candidate);
        if (_votedToAdmit[candidate][msg.sender]) {
            revert AlreadyVotedToAdmit(msg.sender, candidate);
        }
        if (_admittedList.length >= _maxParties) {
            revert AdmissionFull(_admittedList.length, _maxParties);
        }
        uint256 quorum = admissionQuorum();
        _votedToAdmit[candidate][msg.sender] = true;
        // At most maxParties admitted voters exist, so the count fits uint16.
        uint16 votes = ++_admissionVotes[candidate];
        emit AdmissionVoted(candidate, msg.sender, votes, quorum);
        if (votes >= quorum) _admit(candidate, true);
    }

    // ======================================================================== registration

    /// @notice Register msg.sender as a party (the paper's init transaction).
    /// @dev Sends exactly `registrationDeposit` wei. The key's first 32 bytes are an X25519
    /// public key and must not have small order.
    /// @param encPubKey the party's encryption public key: 32 bytes (X25519) or 1216 bytes
    /// (X25519 || ML-KEM-768).
    /// @param dataSize |D_i|, the size of the party's local training set.
    /// @param samplesReleased u_i, the number of DPGAN samples released for benchmarking.
    /// @param samplesDigest digest of the stored object holding the released samples.
    function register(
        bytes calldata encPubKey,
        uint64 dataSize,
        uint64 samplesReleased,
        bytes32 samplesDigest
    ) external payable {
        _requireOpenRegistration();
        Membership storage me = _members[msg.sender];
        if (me.status != Status.None) revert AlreadyRegistered(msg.sender);
        if (_admission != Admission.Open && !me.admitted) revert NotAdmitted(msg.sender);
        if (_parties.length >= _maxParties) revert RegistryFull(_maxParties);
        if (msg.value != _registrationDeposit) revert WrongDeposit(msg.value, _registrationDeposit);
        _checkKey(encPubKey);
        if (dataSize < _minDataSize || dataSize > _maxDataSize) {
            revert DataSizeOutOfRange(dataSize, _minDataSize, _maxDataSize);
        }
        if (samplesReleased == 0 || samplesReleased > dataSize) {
            revert InvalidSampleCounts(dataSize, samplesReleased);
        }
        if (uint256(samplesReleased) * _maxSharingDenominator
                > uint256(dataSize) * _maxSharingNumerator) {
            revert SharingLevelTooHigh(
                dataSize, samplesReleased, _maxSharingNumerator, _maxSharingDenominator
            );
        }
        if (samplesDigest == bytes32(0)) revert ZeroDigest();

        uint256 index = _parties.length;
        _parties.push(msg.sender);
        me.status = Status.Credible;
        // index < maxParties <= type(uint16).max, so the cast is exact.
        me.index = uint16(index);
        me.depositHeld = msg.value != 0;
        _profiles[msg.sender] = Profile(dataSize, samplesReleased, samplesDigest, encPubKey);
        emit PartyRegistered(
            msg.sender, index, dataSize, samplesReleased, samplesDigest, encPubKey, msg.value
        );
    }

    /// @notice Close registration and mint p_i = floor(u_i |w| (n-1) / |D_i|) to every party.
    /// @dev Anyone may call, once the deadline block is reached or maxParties registered, and
    /// only with at least minParties registered. Opens epoch 0 (initial benchmarking).
    function closeRegistration() external {
        _requirePhase(Phase.Registration);
        uint256 n = _parties.length;
        if (block.number < _registrationDeadline && n < _maxParties) {
            revert RegistrationStillOpen(_registrationDeadline, n, _maxParties);
        }
        if (n < _minParties) revert NotEnoughParties(n, _minParties);

        _registrationClosed = true;
        // n <= maxParties fits uint16.
        _credibleCount = uint16(n);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            address party = _parties[i];
            Profile storage profile = _profiles[party];
            // samplesReleased <= dataSize, so the amount is at most modelSize * (n-1) < 2^80.
            uint256 amount =
                (uint256(profile.samplesReleased) * _modelSize * (n - 1)) / profile.dataSize;
            _accounts[party].balance = uint112(amount);
            total += amount;
            emit PointsMinted(party, amount);
        }
        _totalPoints = total;
        _rounds[0].start = uint64(block.number);
        emit RegistrationClosed(n, total, uint64(block.number) + _benchmarkBlocks);
    }

    /// @notice Withdraw msg.sender's registration deposit once the consortium is Finished (or
    /// its registration failed: deadline passed with fewer than minParties registered).
    /// @dev A removed party's deposit is forfeited and stays locked in the contract, so no
    /// party gains from removing another.
    function withdrawDeposit() external {
        Phase current = phase();
        if (current != Phase.Finished && !registrationFailed()) revert DepositLocked(current);
        Membership storage me = _members[msg.sender];
        if (me.status == Status.Removed) revert DepositForfeit(msg.sender);
        if (!me.depositHeld) revert NothingToWithdraw(msg.sender);
        me.depositHeld = false;
        uint256 amount = _registrationDeposit;
        emit DepositWithdrawn(msg.sender, amount);
        // Effects are done before the call, so a re-entering receiver finds nothing to withdraw.
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert DepositTransferFailed(msg.sender, amount);
    }

    // ======================================================================== rounds

    /// @notice DOWNLOAD transaction: request model updates from `uploaders`, escrowing
    /// `amounts[j]` points for `uploaders[j]`. One per credible party per round.
    /// @dev An empty request is allowed: it records that the party acted, so the REQUEST
    /// phase can end early once every credible party has acted.
    /// @param uploaders distinct credible parties other than msg.sender.
    /// @param amounts the points d_i^j offered to each uploader (each > 0).
    function requestDownloads(address[] calldata uploaders, uint256[] calldata amounts) external {
        _requireCredible(msg.sender);
        _requirePhase(Phase.Request);
        uint64 round = _currentRound;
        uint32 round32 = uint32(round);
        Membership storage me = _members[msg.sender];
        if (me.lastRequestRound == round32) revert AlreadyRequested(msg.sender, round);
        uint256 count = uploaders.length;
        if (count != amounts.length) revert LengthMismatch(count, amounts.length);
        if (count > _maxParties) revert TooManyEntries(count, _maxParties);

        _releaseEscrow(msg.sender);
        RoundState storage state = _rounds[round];
        uint256 total;
        for (uint256 j; j < count; ++j) {
            address uploader = uploaders[j];
            uint256 amount = amounts[j];
            if (uploader == msg.sender) revert SelfReference(uploader);
            if (amount == 0) revert ZeroAmount(uploader);
            Membership storage them = _members[uploader];
            if (them.status != Status.Credible) revert NotCredible(uploader);
            if (amount > _AMOUNT_MASK) {
                revert InsufficientPoints(msg.sender, _accounts[msg.sender].balance, amount);
            }
            (bytes32 key, uint256 shift) = _requestEntry(round, msg.sender, them.index);
            uint256 word = _requestWords[key];
            if ((word >> shift) & _ENTRY_MASK != 0) revert DuplicateEntry(uploader);
            _requestWords[key] = word | (amount << shift);
            if (them.lastNamedRound != round32) {
                them.lastNamedRound = round32;
                ++state.uploadersExpected;
            }
            total += amount;
        }
        Account storage account = _accounts[msg.sender];
        if (total > account.balance) revert InsufficientPoints(msg.sender, account.balance, total);
        // total <= balance was just checked, so neither update can wrap.
        unchecked {
            account.balance -= uint112(total);
            account.escrowed += uint112(total);
        }
        account.escrowRound = round32;
        me.lastRequestRound = round32;
        ++state.requestCount;
        emit DownloadRequested(round, msg.sender, uploaders, amounts);
    }

    /// @notice UPLOAD transaction: commit the digests of the ciphertexts uploaded for
    /// `requesters` and collect their escrowed points. One per credible party per round.
    /// @dev Requests not listed stay open until the phase ends, then their escrow is released.
    /// A listed requester that is no longer credible (removed since it requested) is skipped:
    /// its request's escrow goes back to it and a `RequestSkipped` event is emitted, instead of
    /// reverting the honest uploader's whole batch.
    /// @param requesters parties with an open request to msg.sender this round.
    /// @param digests nonzero digests of the ciphertext objects, one per requester.
    function uploadCiphertexts(address[] calldata requesters, bytes32[] calldata digests) external {
        _requireCredible(msg.sender);
        _requirePhase(Phase.Upload);
        uint64 round = _currentRound;
        uint32 round32 = uint32(round);
        Membership storage me = _members[msg.sender];
        if (me.lastNamedRound != round32) revert NothingRequested(msg.sender, round);
        if (me.lastUploadRound == round32) revert AlreadyUploaded(msg.sender, round);
        uint256 count = requesters.length;
        if (count != digests.length) revert LengthMismatch(count, digests.length);
        if (count > _maxParties) revert TooManyEntries(count, _maxParties);

        uint16 myIndex = me.index;
        uint256 earned;
        for (uint256 j; j < count; ++j) {
            address requester = requesters[j];
            if (digests[j] == bytes32(0)) revert ZeroDigest();
            (bytes32 key, uint256 shift) = _requestEntry(round, requester, myIndex);
            uint256 word = _requestWords[key];
            uint256 entry = (word >> shift) & _ENTRY_MASK;
            if (entry == 0 || entry & (_FULFILLED | _SKIPPED) != 0) {
                revert RequestNotOpen(round, requester, msg.sender);
            }
            // entry < 2^62 was checked against the total supply at request time.
            uint112 amount = uint112(entry);
            Account storage theirs = _accounts[requester];
            if (_members[requester].status != Status.Credible) {
                _requestWords[key] = word | (_SKIPPED << shift);
                // The request escrowed `amount` in this round, and escrow of the current round
                // only leaves by fulfilment or skip (each once), so escrowed >= amount; the
                // balance stays below the total supply < 2^112.
                unchecked {
                    theirs.escrowed -= amount;
                    theirs.balance += amount;
                }
                emit RequestSkipped(round, requester, msg.sender, amount);
                continue;
            }
            _requestWords[key] = word | (_FULFILLED << shift);
            // As above: the request's escrow is still held, so escrowed >= amount.
            unchecked {
                theirs.escrowed -= amount;
            }
            earned += amount;
        }
        // earned <= total points < 2^112.
        _accounts[msg.sender].balance += uint112(earned);
        me.lastUploadRound = round32;
        ++_rounds[round].uploadCount;
        // A hash chain over all of the uploader's UPLOADs: one slot rewritten per round (not a
        // fresh slot per round), yet any past batch can be checked by replaying the events.
        _uploadAccumulators[msg.sender] = keccak256(
            abi.encode(_uploadAccumulators[msg.sender], round, requesters, digests)
        );
        emit CiphertextsUploaded(round, msg.sender, requesters, digests, earned);
    }

    /// @notice Vote to close the current epoch (benchmarking or a round's SETTLE phase).
    /// The epoch closes when every credible party voted, or on any member's call once the
    /// epoch's deadline block is reached; the next round then opens, or, after round
    /// `rounds`, the consortium is Finished.
    function closeRound() external {
        _requireCredible(msg.sender);
        Phase current = phase();
        if (current != Phase.Settle && current != Phase.Benchmarking) {
            revert WrongPhase(Phase.Settle, current);
        }
        uint64 round = _currentRound;
        uint32 round32 = uint32(round);
        RoundState storage state = _rounds[round];
        Membership storage me = _members[msg.sender];
        bool voted = me.voteMark == round32 + 1;
        if (!voted) {
            me.voteMark = round32 + 1;
            ++state.voteCount;
            emit RoundCloseVoted(round, msg.sender);
        }
        bool byDeadline = block.number >= _epochDeadline(round);
        if (state.voteCount >= _credibleCount || byDeadline) {
            _openNextRound(round, byDeadline);
        } else if (voted) {
            revert AlreadyVoted(msg.sender, round);
        }
    }

    /// @notice Release `party`'s unspent escrow of a closed round back to its balance.
    /// @dev Anyone may call; also done automatically by the party's next DOWNLOAD.
    /// @param party the party whose escrow is released (credible or removed).
    function releaseEscrow(address party) external {
        if (_members[party].status == Status.None) revert NotRegistered(party);
        if (!_releaseEscrow(party)) revert NothingToRelease(party);
    }

    // ======================================================================== credibility

    /// @notice Report `suspects` as low-quality parties for evaluation `epoch`.
    /// @dev Accepted only for the current epoch inside its assessment window (epoch 0: the
    /// Benchmarking phase; round t: its Settle phase). A suspect is removed once credible
    /// members that named it for the epoch reach `removalQuorum()`: reports of members removed
    /// since they reported no longer count. Suspects already removed are skipped, so
    /// concurrent reports do not revert.
    /// @param epoch the current epoch.
    /// @param suspects registered parties other than msg.sender.
    function reportLowQuality(uint64 epoch, address[] calldata suspects) external {
        _requireCredible(msg.sender);
        Phase current = phase();
        Phase window = _currentRound == 0 ? Phase.Benchmarking : Phase.Settle;
        if (epoch != _currentRound || current != window) {
            revert ReportOutsideWindow(epoch, _currentRound, current);
        }
        uint256 count = suspects.length;
        if (count > _maxParties) revert TooManyEntries(count, _maxParties);
        for (uint256 j; j < count; ++j) {
            address suspect = suspects[j];
            if (suspect == msg.sender) revert SelfReference(suspect);
            Status status = _members[suspect].status;
            if (status == Status.None) revert NotRegistered(suspect);
            if (_reported[epoch][suspect][msg.sender]) {
                revert AlreadyReported(epoch, msg.sender, suspect);
            }
            _reported[epoch][suspect][msg.sender] = true;
            if (status == Status.Removed) continue;
            _reporters[epoch][suspect].push(msg.sender);
            _removeIfQuorum(epoch, suspect);
        }
        emit LowQualityReported(epoch, msg.sender, suspects);
    }

    // ======================================================================== messages

    /// @notice Commit digests of off-chain messages (labels, recovery streams, evaluations).
    /// @dev Stores a hash chain per (epoch, kind, sender) so later disputes can check any
    /// committed batch against the events.
    /// @param epoch 0 for initial benchmarking, t for round t; at most the current round.
    /// @param kind one of KIND_LABELS, KIND_RECOVERY, KIND_EVALUATION.
    /// @param recipients registered parties receiving the messages.
    /// @param digests nonzero digests of the messages, one per recipient.
    function commitMessages(
        uint64 epoch,
        uint8 kind,
        address[] calldata recipients,
        bytes32[] calldata digests
    ) external {
        _requireCredible(msg.sender);
        if (!_registrationClosed) revert WrongPhase(Phase.Benchmarking, Phase.Registration);
        if (epoch > _currentRound) revert FutureEpoch(epoch, _currentRound);
        if (kind < KIND_LABELS || kind > KIND_EVALUATION) revert UnknownMessageKind(kind);
        uint256 count = recipients.length;
        if (count != digests.length) revert LengthMismatch(count, digests.length);
        if (count > _maxParties) revert TooManyEntries(count, _maxParties);
        for (uint256 j; j < count; ++j) {
            if (_members[recipients[j]].status == Status.None) revert NotRegistered(recipients[j]);
            if (digests[j] == bytes32(0)) revert ZeroDigest();
        }
        bytes32 key = keccak256(abi.encode(epoch, kind, msg.sender));
        bytes32 accumulator =
            keccak256(abi.encode(_messageAccumulators[key], recipients, digests));
        _messageAccumulators[key] = accumulator;
        emit MessagesCommitted(epoch, kind, msg.sender, recipients, digests, accumulator);
    }

    // ======================================================================== views

    /// @notice The deployment parameters (registrationDeadline is the absolute block).
    function parameters() external view returns (Parameters memory p) {
        p.modelSize = _modelSize;
        p.minParties = _minParties;
        p.maxParties = _maxParties;
        p.rounds = _roundsTotal;
        p.registrationBlocks = _registrationBlocks;
        p.registrationDeadline = _registrationDeadline;
        p.benchmarkBlocks = _benchmarkBlocks;
        p.requestBlocks = _requestBlocks;
        p.uploadBlocks = _uploadBlocks;
        p.settleBlocks = _settleBlocks;
        p.quorumNumerator = _quorumNumerator;
        p.quorumDenominator = _quorumDenominator;
        p.thresholdMode = _thresholdMode;
        p.thresholdNumerator = _thresholdNumerator;
        p.thresholdDenominator = _thresholdDenominator;
        p.admission = _admission;
        p.admissionQuorumNumerator = _admissionQuorumNumerator;
        p.admissionQuorumDenominator = _admissionQuorumDenominator;
        p.registrationDeposit = _registrationDeposit;
        p.minDataSize = _minDataSize;
        p.maxDataSize = _maxDataSize;
        p.maxSharingNumerator = _maxSharingNumerator;
        p.maxSharingDenominator = _maxSharingDenominator;
    }

    /// @notice The current phase, derived from state and block number.
    function phase() public view returns (Phase) {
        if (!_registrationClosed) return Phase.Registration;
        if (_finished) return Phase.Finished;
        uint64 round = _currentRound;
        if (round == 0) return Phase.Benchmarking;
        RoundState storage state = _rounds[round];
        uint64 start = state.start;
        if (state.requestCount < _credibleCount && block.number < start + _requestBlocks) {
            return Phase.Request;
        }
        if (
            state.uploadCount < state.uploadersExpected
                && block.number < start + _requestBlocks + _uploadBlocks
        ) return Phase.Upload;
        return Phase.Settle;
    }

    /// @notice The current epoch: 0 during registration and benchmarking, t in round t, and
    /// `rounds` + 1 once Finished.
    function currentRound() external view returns (uint64) {
        return _currentRound;
    }

    /// @notice Whether registration failed for good: its deadline passed with fewer than
    /// minParties registered (deposits can then be withdrawn).
    function registrationFailed() public view returns (bool) {
        return !_registrationClosed && block.number >= _registrationDeadline
            && _parties.length < _minParties;
    }

    /// @notice Absolute deadline blocks of `round`'s phases (benchmarking: all three equal).
    /// @param round an epoch number not above the current one.
    function roundDeadlines(uint64 round)
        external
        view
        returns (uint64 start, uint64 requestDeadline, uint64 uploadDeadline, uint64 settleDeadline)
    {
        start = _rounds[round].start;
        if (round == 0) {
            uint64 end = start + _benchmarkBlocks;
            return (start, end, end, end);
        }
        requestDeadline = start + _requestBlocks;
        uploadDeadline = requestDeadline + _uploadBlocks;
        settleDeadline = uploadDeadline + _settleBlocks;
    }

    /// @notice Progress counters of `round` (how many parties acted in each phase).
    /// @param round an epoch number.
    function roundProgress(uint64 round)
        external
        view
        returns (uint16 requests, uint16 uploadersExpected, uint16 uploads, uint16 votes)
    {
        RoundState storage state = _rounds[round];
        return (state.requestCount, state.uploadersExpected, state.uploadCount, state.voteCount);
    }

    /// @notice Whether registration is closed.
    function registrationClosed() external view returns (bool) {
        return _registrationClosed;
    }

    /// @notice Every registered party, in registration order.
    function parties() external view returns (address[] memory) {
        return _parties;
    }

    /// @notice Every admitted address (allowlist first, then those voted in), in order.
    function admitted() external view returns (address[] memory) {
        return _admittedList;
    }

    /// @notice The addresses the deployer admitted (the first entries of `admitted()`).
    function allowlist() external view returns (address[] memory list) {
        list = new address[](_allowlistLength);
        for (uint256 i; i < list.length; ++i) {
            list[i] = _admittedList[i];
        }
    }

    /// @notice Whether `party` is admitted (always true under `Admission.Open`).
    /// @param party any address.
    function isAdmitted(address party) external view returns (bool) {
        return _admission == Admission.Open || _members[party].admitted;
    }

    /// @notice Votes `candidate` has received for admission.
    /// @param candidate any address.
    function admissionVotes(address candidate) external view returns (uint256) {
        return _admissionVotes[candidate];
    }

    /// @notice Whether `voter` voted to admit `candidate`.
    /// @param candidate the candidate.
    /// @param voter the admitted member.
    function hasVotedToAdmit(address candidate, address voter) external view returns (bool) {
        return _votedToAdmit[candidate][voter];
    }

    /// @notice Votes that admit a candidate now: ceil(num * admitted / den).
    function admissionQuorum() public view returns (uint256) {
        uint256 a = _admittedList.length;
        return (a * _admissionQuorumNumerator + _admissionQuorumDenominator - 1)
            / _admissionQuorumDenominator;
    }

    /// @notice Whether `party` still holds a registration deposit in the contract.
    /// @param party any address.
    function depositHeld(address party) external view returns (bool) {
        return _members[party].depositHeld;
    }

    /// @notice The credible parties, in registration order.
    function credibleParties() external view returns (address[] memory result) {
        uint256 n = _parties.length;
        // Before closing, every registered party is credible and _credibleCount is not set yet.
        result = new address[](_registrationClosed ? _credibleCount : n);
        uint256 k;
        for (uint256 i; i < n; ++i) {
            if (_members[_parties[i]].status == Status.Credible) result[k++] = _parties[i];
        }
    }

    /// @notice |C|, the number of credible parties (all registered parties before closing).
    function credibleCount() external view returns (uint256) {
        return _registrationClosed ? _credibleCount : _parties.length;
    }

    /// @notice Registration data and status of `party`.
    /// @param party any address.
    function partyInfo(address party)
        external
        view
        returns (
            Status status,
            uint16 index,
            uint64 dataSize,
            uint64 samplesReleased,
            bytes32 samplesDigest,
            bytes memory encPubKey
        )
    {
        Profile storage profile = _profiles[party];
        Membership storage member = _members[party];
        return (
            member.status,
            member.index,
            profile.dataSize,
            profile.samplesReleased,
            profile.samplesDigest,
            profile.encPubKey
        );
    }

    /// @notice Points of `party`: spendable balance, escrow, and the part of the escrow that
    /// belongs to a closed round and is released on the next DOWNLOAD or `releaseEscrow`.
    /// @param party any address.
    function pointsOf(address party)
        external
        view
        returns (uint256 balance, uint256 escrowed, uint256 releasable)
    {
        Account storage account = _accounts[party];
        balance = account.balance;
        escrowed = account.escrowed;
        releasable = account.escrowRound < _currentRound ? escrowed : 0;
    }

    /// @notice Total points minted at registration; balances plus escrow always sum to it.
    function totalPoints() external view returns (uint256) {
        return _totalPoints;
    }

    /// @notice The request of `requester` to `uploader` in `round`.
    /// @param round a round number.
    /// @param requester the requesting party.
    /// @param uploader the requested party.
    function requestOf(uint64 round, address requester, address uploader)
        external
        view
        returns (uint256 amount, RequestStatus status)
    {
        Membership storage them = _members[uploader];
        if (them.status == Status.None) return (0, RequestStatus.None);
        (bytes32 key, uint256 shift) = _requestEntry(round, requester, them.index);
        uint256 entry = (_requestWords[key] >> shift) & _ENTRY_MASK;
        if (entry == 0) return (0, RequestStatus.None);
        if (entry & _FULFILLED != 0) status = RequestStatus.Fulfilled;
        else if (entry & _SKIPPED != 0) status = RequestStatus.Skipped;
        else status = RequestStatus.Open;
        amount = entry & _AMOUNT_MASK;
    }

    /// @notice Hash chain of `uploader`'s UPLOADs: starting from zero, each UPLOAD sets
    /// acc = keccak256(abi.encode(acc, round, requesters, digests)).
    /// @param uploader the uploading party.
    function uploadAccumulator(address uploader) external view returns (bytes32) {
        return _uploadAccumulators[uploader];
    }

    /// @notice Members that reported `suspect` in `epoch` while it was credible (whether or
    /// not they are still credible; see `credibleReportCount`).
    /// @param epoch an epoch number.
    /// @param suspect the reported party.
    function reportersOf(uint64 epoch, address suspect) external view returns (address[] memory) {
        return _reporters[epoch][suspect];
    }

    /// @notice Reports against `suspect` in `epoch` that count now: those of reporters that
    /// are still credible. `suspect` is removed when this reaches `removalQuorum()`.
    /// @param epoch an epoch number.
    /// @param suspect the reported party.
    function credibleReportCount(uint64 epoch, address suspect) public view returns (uint256) {
        address[] storage reporters = _reporters[epoch][suspect];
        uint256 count;
        for (uint256 i; i < reporters.length; ++i) {
            if (_members[reporters[i]].status == Status.Credible) ++count;
        }
        return count;
    }

    /// @notice Whether `reporter` reported `suspect` in `epoch`.
    /// @param epoch an epoch number.
    /// @param suspect the reported party.
    /// @param reporter the reporting party.
    function hasReported(uint64 epoch, address suspect, address reporter)
        external
        view
        returns (bool)
    {
        return _reported[epoch][suspect][reporter];
    }

    /// @notice Hash chain of message batches of `kind` sent by `sender` in `epoch`.
    /// @param epoch an epoch number.
    /// @param kind a message kind.
    /// @param sender the committing party.
    function messageAccumulator(uint64 epoch, uint8 kind, address sender)
        external
        view
        returns (bytes32)
    {
        return _messageAccumulators[keccak256(abi.encode(epoch, kind, sender))];
    }

    /// @notice Credible reports needed to remove a party now: ceil(num * |C| / den).
    function removalQuorum() public view returns (uint256) {
        uint256 c = _credibleCount;
        return (c * _quorumNumerator + _quorumDenominator - 1) / _quorumDenominator;
    }

    /// @notice The low-quality credibility threshold c_th as numerator / denominator for a
    /// credible set of `credible` parties (paper mode: (num/den)/|C|; authors: (num/den)/(|C|-1)).
    /// @param credible |C|, at least 2.
    function credibilityThreshold(uint256 credible)
        external
        view
        returns (uint256 numerator, uint256 denominator)
    {
        if (credible < 2) revert InvalidParameter("credible");
        uint256 divisor = _thresholdMode == THRESHOLD_PAPER ? credible : credible - 1;
        return (_thresholdNumerator, uint256(_thresholdDenominator) * divisor);
    }

    // ======================================================================== internals

    function _requirePhase(Phase expected) private view {
        Phase actual = phase();
        if (actual != expected) revert WrongPhase(expected, actual);
    }

    function _requireOpenRegistration() private view {
        _requirePhase(Phase.Registration);
        if (block.number >= _registrationDeadline) {
            revert RegistrationDeadlinePassed(_registrationDeadline, block.number);
        }
    }

    function _requireCredible(address party) private view {
        if (_members[party].status != Status.Credible) revert NotCredible(party);
    }

    /// Refuse keys of the wrong length and X25519 keys of small order.
    function _checkKey(bytes calldata key) private pure {
        uint256 length = key.length;
        if (length != X25519_KEY_LENGTH && length != HYBRID_KEY_LENGTH) {
            revert InvalidEncryptionKey(length, X25519_KEY_LENGTH, HYBRID_KEY_LENGTH);
        }
        bytes32 raw = bytes32(key[:32]);
        // The u-coordinate is little-endian with the top bit ignored (RFC 7748); reduce it
        // modulo p to catch the non-canonical encodings p, p + 1 of 0 and 1 too.
        uint256 u = _reverseBytes(uint256(raw)) & ((1 << 255) - 1);
        if (u >= _P25519) u -= _P25519;
        if (u <= 1 || u == _P25519 - 1 || u == _ORDER8_A || u == _ORDER8_B) {
            revert WeakEncryptionKey(raw);
        }
    }

    function _reverseBytes(uint256 v) private pure returns (uint256) {
        v = ((v >> 8) & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff)
            | ((v & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff) << 8);
        v = ((v >> 16) & 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff)
            | ((v & 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff) << 16);
        v = ((v >> 32) & 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff)
            | ((v & 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff) << 32);
        v = ((v >> 64) & 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff)
            | ((v & 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff) << 64);
        return (v >> 128) | (v << 128);
    }

    function _admit(address party, bool byVote) private {
        _members[party].admitted = true;
        _admittedList.push(party);
        emit PartyAdmitted(party, byVote, _admittedList.length);
    }

    function _requestEntry(uint64 round, address requester, uint16 uploaderIndex)
        private
        pure
        returns (bytes32 key, uint256 shift)
    {
        uint256 word = uploaderIndex / _ENTRIES_PER_WORD;
        key = keccak256(abi.encodePacked(round, requester, uint16(word)));
        shift = (uploaderIndex % _ENTRIES_PER_WORD) * _ENTRY_BITS;
    }

    function _epochDeadline(uint64 round) private view returns (uint64) {
        uint64 start = _rounds[round].start;
        if (round == 0) return start + _benchmarkBlocks;
        return start + _requestBlocks + _uploadBlocks + _settleBlocks;
    }

    function _openNextRound(uint64 round, bool byDeadline) private {
        emit RoundClosed(round, msg.sender, byDeadline);
        uint64 next = round + 1;
        _currentRound = next;
        uint64 start = uint64(block.number);
        _rounds[next].start = start;
        if (round == _roundsTotal) {
            _finished = true;
            emit ConsortiumFinished(round, _credibleCount);
            return;
        }
        uint64 requestDeadline = start + _requestBlocks;
        uint64 uploadDeadline = requestDeadline + _uploadBlocks;
        emit RoundOpened(next, requestDeadline, uploadDeadline, uploadDeadline + _settleBlocks);
    }

    function _releaseEscrow(address party) private returns (bool) {
        Account storage account = _accounts[party];
        uint112 amount = account.escrowed;
        if (amount == 0 || account.escrowRound >= _currentRound) return false;
        // balance + escrowed <= total points < 2^112.
        unchecked {
            account.balance += amount;
        }
        account.escrowed = 0;
        emit EscrowReleased(party, account.escrowRound, amount);
        return true;
    }

    /// Remove `suspect` if the reporters of `epoch` that are still credible reach the quorum.
    function _removeIfQuorum(uint64 epoch, address suspect) private {
        address[] storage reporters = _reporters[epoch][suspect];
        uint256 quorum = removalQuorum();
        uint256 length = reporters.length;
        // Cheap exit: fewer reports than the quorum, credible or not.
        if (length < quorum) return;
        address[] memory counted = new address[](length);
        uint256 k;
        for (uint256 i; i < length; ++i) {
            if (_members[reporters[i]].status == Status.Credible) counted[k++] = reporters[i];
        }
        if (k < quorum) return;
        // Trim the memory array to the credible reporters for the event.
        assembly ("memory-safe") {
            mstore(counted, k)
        }
        _remove(suspect, epoch, counted);
    }

    function _remove(address party, uint64 epoch, address[] memory reporters) private {
        Membership storage member = _members[party];
        member.status = Status.Removed;
        --_credibleCount;
        // Keep the round's counters about credible parties only, so phases still end early.
        uint32 round32 = uint32(_currentRound);
        RoundState storage state = _rounds[_currentRound];
        if (_currentRound != 0) {
            if (member.lastRequestRound == round32) --state.requestCount;
            if (member.lastNamedRound == round32) --state.uploadersExpected;
            if (member.lastUploadRound == round32) --state.uploadCount;
        }
        if (member.voteMark == round32 + 1) --state.voteCount;
        emit PartyRemoved(party, epoch, reporters, member.depositHeld ? _registrationDeposit : 0);
    }
}
