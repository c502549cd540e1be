// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IConsortiumLedger} from "./IConsortiumLedger.sol";

/// @title LedgerBase
/// @notice Storage layout, deployment parameters and shared rules of the consortium ledger.
/// @dev `ConsortiumLedger` and its `ClaimsModule` both derive from this contract and declare no
/// storage of their own, so the module's code runs on the ledger's storage by delegatecall.
/// Parameters are immutables: each of the two contracts holds the same values in its code.
abstract contract LedgerBase is IConsortiumLedger {
    // Requests are packed four per storage word, keyed by (round, requester, uploader index / 4):
    // each 64-bit entry holds the amount in its low 61 bits and, above it, flags: fulfilled
    // (top bit), skipped, disputed; a DOWNLOAD to n-1 uploaders writes ceil(n/4) fresh slots.
    uint256 internal constant _ENTRIES_PER_WORD = 4;
    uint256 internal constant _ENTRY_BITS = 64;
    uint256 internal constant _ENTRY_MASK = type(uint64).max;
    uint256 internal constant _FULFILLED = 1 << 63;
    uint256 internal constant _SKIPPED = 1 << 62;
    uint256 internal constant _DISPUTED = 1 << 61;
    uint256 internal constant _AMOUNT_MASK = _DISPUTED - 1;

    // `_reported` marks: a report sent by the reporter, or one recorded from an upheld claim.
    uint8 internal constant _BY_REPORT = 1;
    uint8 internal constant _BY_CLAIM = 2;

    // Hot slot of a party: everything a DOWNLOAD / UPLOAD touches. Every amount is below the
    // total supply, itself below 2^61 (checked at deployment), so 64 bits hold any sum of them.
    struct Account {
        uint64 balance;
        uint64 escrowed;
        uint64 pending;
        uint32 escrowRound;
        uint32 pendingRound;
    }

    // Points held by open claims: payments under dispute (uploader side) and claim deposits
    // (requester side). Only claims touch this slot.
    struct Locks {
        uint64 disputed;
        uint64 deposited;
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

    uint64 internal immutable _modelSize;
    uint16 internal immutable _minParties;
    uint16 internal immutable _maxParties;
    uint32 internal immutable _roundsTotal;
    uint64 internal immutable _registrationBlocks;
    uint64 internal immutable _registrationDeadline;
    uint32 internal immutable _benchmarkBlocks;
    uint32 internal immutable _requestBlocks;
    uint32 internal immutable _uploadBlocks;
    uint32 internal immutable _settleBlocks;
    uint16 internal immutable _quorumNumerator;
    uint16 internal immutable _quorumDenominator;
    uint8 internal immutable _thresholdMode;
    uint32 internal immutable _thresholdNumerator;
    uint32 internal immutable _thresholdDenominator;
    Admission internal immutable _admission;
    uint16 internal immutable _admissionQuorumNumerator;
    uint16 internal immutable _admissionQuorumDenominator;
    uint128 internal immutable _registrationDeposit;
    uint64 internal immutable _minDataSize;
    uint64 internal immutable _maxDataSize;
    uint32 internal immutable _maxSharingNumerator;
    uint32 internal immutable _maxSharingDenominator;
    uint16 internal immutable _minUploaders;
    uint64 internal immutable _claimDeposit;
    uint32 internal immutable _responseBlocks;
    uint32 internal immutable _voteBlocks;
    uint32 internal immutable _retentionBlocks;

    address[] internal _parties;
    address[] internal _admittedList;
    mapping(address => Account) internal _accounts;
    mapping(address => Locks) internal _locks;
    mapping(address => Membership) internal _members;
    mapping(address => Profile) internal _profiles;
    mapping(address => uint16) internal _admissionVotes;
    mapping(address => mapping(address => bool)) internal _votedToAdmit;

    bool internal _registrationClosed;
    bool internal _finished;
    uint16 internal _credibleCount;
    uint64 internal _currentRound;
    uint256 internal _totalPoints;
    mapping(uint64 => RoundState) internal _rounds;
    mapping(bytes32 => uint256) internal _requestWords;
    mapping(address => bytes32) internal _uploadAccumulators;
    mapping(uint64 => mapping(address => address[])) internal _reporters;
    mapping(uint64 => mapping(address => mapping(address => uint8))) internal _reported;
    mapping(bytes32 => bytes32) internal _messageAccumulators;
    bytes internal _settings;
    uint256 internal _claimCount;
    mapping(uint256 => Claim) internal _claims;
    mapping(bytes32 => uint256) internal _claimOfDelivery;
    mapping(uint256 => address[]) internal _claimVoters;
    // 0: no vote, 1: upheld, 2: rejected.
    mapping(uint256 => mapping(address => uint8)) internal _claimVotes;

    /// @param p the deployment parameters; `registrationBlocks` and `registrationDeadline`
    /// are written back consistently (deadline 0 means deployment block + length).
    constructor(Parameters memory p) {
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
        if (p.thresholdMode > 1) revert InvalidParameter("thresholdMode");
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
        // A nonempty DOWNLOAD must be possible once registration closes with minParties.
        if (p.minUploaders == 0 || p.minUploaders >= p.minParties) {
            revert InvalidParameter("minUploaders");
        }
        // A free claim would let anyone hold any uploader's payment hostage.
        if (p.claimDeposit == 0) revert InvalidParameter("claimDeposit");
        if (p.responseBlocks == 0) revert InvalidParameter("responseBlocks");
        if (p.voteBlocks == 0) revert InvalidParameter("voteBlocks");
        // A claim filed in the last block of its round resolves within responseBlocks +
        // voteBlocks: the content it is about must still be retained until then.
        if (uint256(p.retentionBlocks) < uint256(p.responseBlocks) + p.voteBlocks) {
            revert InvalidParameter("retentionBlocks");
        }
        // Every amount is bounded by the total minted, at most modelSize * (n-1) * n; it must fit
        // the 61-bit amount of a packed request entry.
        if (uint256(p.modelSize) * p.maxParties * p.maxParties > _AMOUNT_MASK) {
            revert InvalidParameter("modelSize");
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
        _minUploaders = p.minUploaders;
        _claimDeposit = p.claimDeposit;
        _responseBlocks = p.responseBlocks;
        _voteBlocks = p.voteBlocks;
        _retentionBlocks = p.retentionBlocks;
        p.registrationBlocks = deadline - uint64(block.number);
        p.registrationDeadline = deadline;
    }

    // ======================================================================== shared rules

    /// @notice Credible reports needed to remove a party now: ceil(num * |C| / den).
    function removalQuorum() public view returns (uint256) {
        uint256 c = _credibleCount;
        return (c * _quorumNumerator + _quorumDenominator - 1) / _quorumDenominator;
    }

    /// Votes on claim `claimId` by still-credible voters, and the electorate (credible
    /// parties other than the claim's two sides).
    function _tally(uint256 claimId)
        internal
        view
        returns (uint256 upheld, uint256 rejected, uint256 eligible)
    {
        Claim storage c = _claim(claimId);
        address[] storage voters = _claimVoters[claimId];
        for (uint256 i; i < voters.length; ++i) {
            if (_members[voters[i]].status != Status.Credible) continue;
            if (_claimVotes[claimId][voters[i]] == 1) ++upheld;
            else ++rejected;
        }
        eligible = _credibleCount;
        if (_members[c.requester].status == Status.Credible) --eligible;
        if (_members[c.uploader].status == Status.Credible) --eligible;
    }

    function _requireCredible(address party) internal view {
        if (_members[party].status != Status.Credible) revert NotCredible(party);
    }

    function _requestEntry(uint64 round, address requester, uint16 uploaderIndex)
        internal
        pure
        returns (bytes32 key, uint256 shift)
    {
        uint256 word = uploaderIndex / _ENTRIES_PER_WORD;
        key = keccak256(abi.encodePacked(round, requester, uint16(word)));
        shift = (uploaderIndex % _ENTRIES_PER_WORD) * _ENTRY_BITS;
    }

    /// Credit `account` (a memory copy the caller stores back) with its escrow of a closed
    /// round and its pending payment whose round closed; return whether anything moved.
    function _settleAccount(Account memory account, address party) internal returns (bool moved) {
        uint64 current = _currentRound;
        // Each sum is at most the total supply < 2^61.
        unchecked {
            if (account.escrowed != 0 && account.escrowRound < current) {
                emit EscrowReleased(party, account.escrowRound, account.escrowed);
                account.balance += account.escrowed;
                account.escrowed = 0;
                moved = true;
            }
            if (account.pending != 0 && account.pendingRound < current) {
                emit PaymentCredited(party, account.pendingRound, account.pending);
                account.balance += account.pending;
                account.pending = 0;
                moved = true;
            }
        }
    }

    function _deliveryKey(uint64 round, address requester, address uploader)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(round, requester, uploader));
    }

    function _claim(uint256 claimId) internal view returns (Claim storage c) {
        c = _claims[claimId];
        if (c.state == ClaimState.None) revert UnknownClaim(claimId);
    }

    /// Remove `suspect` if the reporters of `epoch` that are still credible reach the quorum.
    function _removeIfQuorum(uint64 epoch, address suspect) internal {
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

    function _remove(address party, uint64 epoch, address[] memory reporters) internal {
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
