// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ClaimsModule} from "./ClaimsModule.sol";
import {LedgerBase} from "./LedgerBase.sol";

/// @title ConsortiumLedger
/// @notice Points ledger of one fppdl consortium (paper 001, section 3.2): admission and
/// registration with on-chain minting of initial points, the credible party set with quorum
/// removal, and coordinator-free rounds of DOWNLOAD (escrow) and UPLOAD (delivery)
/// transactions, for a fixed number of rounds after which the consortium is Finished. An
/// uploader's payment stays pending until its round's dispute window closes (when the round
/// closes); a requester may claim against a delivery with a deposit, resolved by the uploader's
/// response and a vote of the credible set, or by deadline against the silent side.
/// @dev Invariant: the sum over parties of balance + escrowed + pending + disputed + deposited
/// equals `totalPoints()` at every block. Every loop is bounded by `maxParties`. Unspent escrow
/// of a closed round and pending payments whose window closed are settled lazily (on the
/// party's next DOWNLOAD or UPLOAD, or by anyone through `settle`) so closing a round is O(1).
/// Admission `Open` lets any address register with self-declared sizes: it is meant for
/// devnets and tests only; a real consortium uses `Allowlist` or `Vote`.
contract ConsortiumLedger is LedgerBase {
    /// @notice Message kind: mutual-evaluation labels sent privately to a sample owner.
    uint8 public constant KIND_LABELS = 1;
    /// @notice Message kind: dropout-recovery streams sent to a receiver.
    uint8 public constant KIND_RECOVERY = 2;
    /// @notice Message kind: local credibility vectors or other evaluation results.
    uint8 public constant KIND_EVALUATION = 3;
    /// @notice Message kind: a receiver's receipt, the envelopes it accepts and excludes.
    uint8 public constant KIND_RECEIPT = 4;
    /// @notice Message kind: a neighbour's reveal of a sender's self-mask share to the receiver.
    uint8 public constant KIND_UNMASK = 5;
    /// @notice Longest accepted consortium-wide settings blob, in bytes.
    uint256 public constant MAX_SETTINGS_LENGTH = 4096;
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

    uint16 private immutable _allowlistLength;
    bytes32 private immutable _settingsDigest;
    address private immutable _claimsModule;

    /// @notice Deploy a consortium ledger with immutable parameters.
    /// @param p the deployment parameters; see `IConsortiumLedger.Parameters`.
    /// @param allowlist the addresses admitted at deployment (empty for `Admission.Open`;
    /// the founders for `Admission.Vote`); at most `maxParties`, distinct and nonzero.
    /// @param settings consortium-wide settings every party must share (encoded by the
    /// client, opaque here), at most MAX_SETTINGS_LENGTH bytes.
    constructor(Parameters memory p, address[] memory allowlist, bytes memory settings)
        LedgerBase(p)
    {
        if (settings.length > MAX_SETTINGS_LENGTH) {
            revert SettingsTooLong(settings.length, MAX_SETTINGS_LENGTH);
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
        // listed <= maxParties fits uint16.
        _allowlistLength = uint16(listed);
        _settings = settings;
        bytes32 digest = keccak256(settings);
        _settingsDigest = digest;
        // The module holds the same parameters (the base constructor fixed the deadline in p).
        _claimsModule = address(new ClaimsModule(p));
        emit LedgerDeployed(p, listed, digest, settings);
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
            _accounts[party].balance = uint64(amount);
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
        if (count != 0 && count < _minUploaders) revert TooFewUploaders(count, _minUploaders);

        Account memory account = _accounts[msg.sender];
        _settleAccount(account, msg.sender);
        RoundState storage state = _rounds[round];
        uint256 total;
        for (uint256 j; j < count; ++j) {
            address uploader = uploaders[j];
            uint256 amount = amounts[j];
            if (uploader == msg.sender) revert SelfReference(uploader);
            if (amount == 0) revert ZeroAmount(uploader);
            Membership storage them = _members[uploader];
            if (them.status != Status.Credible) revert NotCredible(uploader);
            if (amount > _AMOUNT_MASK) revert InsufficientPoints(msg.sender, account.balance, amount);
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
        if (total > account.balance) revert InsufficientPoints(msg.sender, account.balance, total);
        // total <= balance was just checked, and escrowed + balance stays below the supply.
        unchecked {
            account.balance -= uint64(total);
            account.escrowed += uint64(total);
        }
        account.escrowRound = round32;
        _accounts[msg.sender] = account;
        me.lastRequestRound = round32;
        ++state.requestCount;
        emit DownloadRequested(round, msg.sender, uploaders, amounts);
    }

    /// @notice UPLOAD transaction: commit the digests of the ciphertexts uploaded for
    /// `requesters`; their escrowed points become the uploader's pending payment, credited
    /// once the round closes without a claim against the delivery. One per credible party per
    /// round.
    /// @dev Requests not listed stay open until the phase ends, then their escrow is released.
    /// The uploader's pending payment of an earlier round is credited first.
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
            // The amount (low 61 bits) was checked against the total supply at request time.
            uint64 amount = uint64(entry & _AMOUNT_MASK);
            Account storage theirs = _accounts[requester];
            if (_members[requester].status != Status.Credible) {
                _requestWords[key] = word | (_SKIPPED << shift);
                // The request escrowed `amount` in this round, and escrow of the current round
                // only leaves by fulfilment or skip (each once), so escrowed >= amount; the
                // balance stays below the total supply < 2^61.
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
        Account memory mine = _accounts[msg.sender];
        _settleAccount(mine, msg.sender);
        // earned and any pending of this round stay below the total supply < 2^61. A pending
        // payment of an earlier round was just credited (its round closed), so `pending` now
        // holds this round's payments only.
        unchecked {
            mine.pending += uint64(earned);
        }
        mine.pendingRound = round32;
        _accounts[msg.sender] = mine;
        me.lastUploadRound = round32;
        ++_rounds[round].uploadCount;
        // A hash chain over all of the uploader's UPLOADs: one slot rewritten per round (not a
        // fresh slot per round), yet any past batch can be checked by replaying the events.
        bytes32 accumulator = keccak256(
            abi.encode(_uploadAccumulators[msg.sender], round, requesters, digests)
        );
        _uploadAccumulators[msg.sender] = accumulator;
        emit CiphertextsUploaded(round, msg.sender, requesters, digests, earned, accumulator);
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

    /// @notice Settle `party`: release its unspent escrow of a closed round and credit its
    /// pending payment whose dispute window closed, both to its balance.
    /// @dev Anyone may call; also done automatically by the party's next DOWNLOAD or UPLOAD.
    /// @param party the party to settle (credible or removed).
    function settle(address party) external {
        if (_members[party].status == Status.None) revert NotRegistered(party);
        Account memory account = _accounts[party];
        if (!_settleAccount(account, party)) revert NothingToSettle(party);
        _accounts[party] = account;
    }

    // ======================================================================== claims
    // Each claim function runs in the ClaimsModule, by delegatecall on this storage.

    /// @notice Claim that `uploader`'s delivery to msg.sender in `round` is bad, depositing
    /// `claimDeposit` points; the delivery's payment is held until the claim is resolved.
    /// @dev Accepted while `round` is the current round (after the UPLOAD, until the round
    /// closes). The delivery is proven by the uploader's batch of this round: `previous`,
    /// `requesters` and `digests` must reproduce its upload hash chain, which fixes the
    /// committed digest the claim is about.
    /// @param round the current round.
    /// @param uploader the party that delivered.
    /// @param kind Missing, Undecryptable or Malformed.
    /// @param previous the uploader's hash chain value before this round's UPLOAD.
    /// @param requesters the requesters of the uploader's UPLOAD of this round, as sent.
    /// @param digests the digests of that UPLOAD, as sent.
    /// @return claimId the new claim's id (from 1).
    function fileClaim(
        uint64 round,
        address uploader,
        ClaimKind kind,
        bytes32 previous,
        address[] calldata requesters,
        bytes32[] calldata digests
    ) external returns (uint256 claimId) {
        _delegate();
    }

    /// @notice Answer a Missing claim: declare that bytes matching the committed digest are
    /// published again, so that the credible parties can fetch and check them.
    /// @param claimId a Filed claim against msg.sender, before its response deadline.
    function declareRepublished(uint256 claimId) external {
        _delegate();
    }

    /// @notice Answer an Undecryptable or Malformed claim: reveal the envelope's layer-2 key
    /// (the envelope commits to it), so that the credible parties can check layers 2-3 and
    /// the structure of layer 1, which stays masked.
    /// @param claimId a Filed claim against msg.sender, before its response deadline.
    /// @param key the envelope's 32-byte layer-2 (AES-256-GCM) key.
    function revealKey(uint256 claimId, bytes32 key) external {
        _delegate();
    }

    /// @notice Vote on an Answered claim: `upheld` if the uploader's response fails the check
    /// (the claim is true), false if it passes.
    /// @dev Only credible parties other than the two sides vote. The claim is resolved as soon
    /// as more than half of the eligible voters (see `claimTally`) agree.
    /// @param claimId an Answered claim, before its vote deadline.
    /// @param upheld whether the claim is true.
    function voteOnClaim(uint256 claimId, bool upheld) external {
        _delegate();
    }

    /// @notice Resolve a claim after its deadline: a Filed claim the uploader did not answer
    /// is upheld (against the silent side); an Answered claim is upheld only if more credible
    /// voters upheld than rejected it.
    /// @dev Anyone may call.
    /// @param claimId a claim past its response (Filed) or vote (Answered) deadline.
    function resolveClaim(uint256 claimId) external {
        _delegate();
    }

    /// @notice Give up an open claim: the requester withdraws it (the claim is rejected), or
    /// the uploader admits it (the claim is upheld).
    /// @param claimId a Filed or Answered claim of which msg.sender is a side.
    function concedeClaim(uint256 claimId) external {
        _delegate();
    }

    // ======================================================================== credibility

    /// @notice Report `suspects` as low-quality parties for evaluation `epoch`.
    /// @dev Accepted only for the current epoch inside its assessment window (epoch 0: the
    /// Benchmarking phase; round t: its Settle phase). A suspect is removed once credible
    /// members that named it for the epoch reach `removalQuorum()`: reports of members removed
    /// since they reported no longer count. Suspects already removed, or already reported by
    /// msg.sender through an upheld claim, are skipped, so concurrent reports do not revert.
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
        // Logged before the removals it may cause, so a replay of the events meets the report
        // first; any revert below undoes the whole call, event included.
        emit LowQualityReported(epoch, msg.sender, suspects);
        for (uint256 j; j < count; ++j) {
            address suspect = suspects[j];
            if (suspect == msg.sender) revert SelfReference(suspect);
            Status status = _members[suspect].status;
            if (status == Status.None) revert NotRegistered(suspect);
            uint8 mark = _reported[epoch][suspect][msg.sender];
            if (mark == _BY_REPORT) revert AlreadyReported(epoch, msg.sender, suspect);
            // Already counted from an upheld claim of this reporter: nothing to add.
            if (mark == _BY_CLAIM) continue;
            _reported[epoch][suspect][msg.sender] = _BY_REPORT;
            if (status == Status.Removed) continue;
            _reporters[epoch][suspect].push(msg.sender);
            _removeIfQuorum(epoch, suspect);
        }
    }

    // ======================================================================== messages

    /// @notice Commit digests of off-chain messages (labels, recovery streams, evaluations,
    /// receipts, unmask shares).
    /// @dev Stores a hash chain per (epoch, kind, sender) so later disputes can check any
    /// committed batch against the events.
    /// @param epoch 0 for initial benchmarking, t for round t; at most the current round.
    /// @param kind one of `messageKinds()`.
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
        if (kind < KIND_LABELS || kind > KIND_UNMASK) revert UnknownMessageKind(kind);
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
        p.minUploaders = _minUploaders;
        p.claimDeposit = _claimDeposit;
        p.responseBlocks = _responseBlocks;
        p.voteBlocks = _voteBlocks;
        p.retentionBlocks = _retentionBlocks;
    }

    /// @notice The consortium-wide settings fixed at deployment (opaque to the ledger).
    function settings() external view returns (bytes memory) {
        return _settings;
    }

    /// @notice The ClaimsModule this ledger runs its claim functions in (created with it).
    function claimsModule() external view returns (address) {
        return _claimsModule;
    }

    /// @notice keccak256 of `settings()`.
    function settingsDigest() external view returns (bytes32) {
        return _settingsDigest;
    }

    /// @notice Every message kind `commitMessages` accepts, in increasing order.
    function messageKinds() external pure returns (uint8[] memory kinds) {
        kinds = new uint8[](KIND_UNMASK);
        for (uint8 k; k < KIND_UNMASK; ++k) {
            kinds[k] = k + 1;
        }
    }

    /// @notice Block until which content delivered in `round` must stay retrievable: the
    /// round's closing block + retentionBlocks; 0 while the round is still open.
    /// @param round a round number.
    function retainedUntil(uint64 round) external view returns (uint64) {
        if (round >= _currentRound) return 0;
        return _rounds[round + 1].start + _retentionBlocks;
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

    /// @notice Points of `party` in every bucket: spendable `balance`; `escrowed` for its
    /// requests; `pending` payments for its deliveries; `disputed` payments held by claims
    /// against it; `deposited` in its own open claims. `releasable` is what its next DOWNLOAD
    /// (or `settle`) moves to the balance: escrow of a closed round plus pending payments whose
    /// dispute window closed, so `balance + releasable` is what that DOWNLOAD can spend.
    /// @param party any address.
    function pointsOf(address party)
        external
        view
        returns (
            uint256 balance,
            uint256 escrowed,
            uint256 pending,
            uint256 disputed,
            uint256 deposited,
            uint256 releasable
        )
    {
        Account storage account = _accounts[party];
        Locks storage locks = _locks[party];
        balance = account.balance;
        escrowed = account.escrowed;
        pending = account.pending;
        disputed = locks.disputed;
        deposited = locks.deposited;
        if (account.escrowRound < _currentRound) releasable = escrowed;
        if (account.pendingRound < _currentRound) releasable += pending;
    }

    /// @notice Total points minted at registration; the buckets of `pointsOf` over all parties
    /// always sum to it.
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
        if (entry & _DISPUTED != 0) status = RequestStatus.Disputed;
        else if (entry & _FULFILLED != 0) status = RequestStatus.Fulfilled;
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
        return _reported[epoch][suspect][reporter] != 0;
    }

    /// @notice Number of claims filed so far (claim ids run from 1 to this).
    function claimCount() external view returns (uint256) {
        return _claimCount;
    }

    /// @notice Claim `claimId`.
    /// @param claimId a claim id.
    function claim(uint256 claimId) external view returns (Claim memory) {
        return _claim(claimId);
    }

    /// @notice Id of the claim against `uploader`'s delivery to `requester` in `round`, or 0.
    /// @param round a round number.
    /// @param requester the claiming requester.
    /// @param uploader the uploader claimed against.
    function claimOf(uint64 round, address requester, address uploader)
        external
        view
        returns (uint256)
    {
        return _claimOfDelivery[_deliveryKey(round, requester, uploader)];
    }

    /// @notice Votes on claim `claimId` that count now (voters still credible), and the
    /// electorate: credible parties other than the claim's two sides. A vote resolves the
    /// claim once one side has more than half of `eligible`.
    /// @param claimId a claim id.
    function claimTally(uint256 claimId)
        external
        view
        returns (uint256 upheld, uint256 rejected, uint256 eligible)
    {
        return _tally(claimId);
    }

    /// @notice How `voter` voted on claim `claimId`: 0 not at all, 1 upheld, 2 rejected.
    /// @param claimId a claim id.
    /// @param voter any address.
    function claimVote(uint256 claimId, address voter) external view returns (uint8) {
        return _claimVotes[claimId][voter];
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

    /// Run the current call's function in the claims module, on this contract's storage, and
    /// return or revert with exactly what it returned or reverted with.
    function _delegate() private {
        address module = _claimsModule;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, 0, calldatasize())
            let ok := delegatecall(gas(), module, ptr, calldatasize(), 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) { revert(ptr, returndatasize()) }
            return(ptr, returndatasize())
        }
    }

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

}
