// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LedgerBase} from "./LedgerBase.sol";

/// @title ClaimsModule
/// @notice Claims against deliveries (paper 001, section 3.2): filing with a deposit, the
/// uploader's response, the credible set's vote, resolution and its transfers of points.
/// @dev Runs only by delegatecall from the `ConsortiumLedger` that created it, on the ledger's
/// storage (same `LedgerBase` layout); calls made to it directly are refused. It exists so that
/// the ledger's code stays under the EIP-170 size limit; the ledger's ABI declares every
/// function below and forwards it here.
contract ClaimsModule is LedgerBase {
    address private immutable _self;

    /// @notice The module was called directly, not through the ledger's delegatecall.
    error DirectCallRefused();

    modifier onlyDelegated() {
        if (address(this) == _self) revert DirectCallRefused();
        _;
    }

    /// @notice Create the module with the ledger's parameters.
    /// @param p the ledger's deployment parameters.
    constructor(Parameters memory p) LedgerBase(p) {
        _self = address(this);
    }

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
    ) external onlyDelegated returns (uint256 claimId) {
        _requireCredible(msg.sender);
        if (kind == ClaimKind.None) revert UnknownClaimKind(uint8(kind));
        if (round != _currentRound || round == 0 || _finished) {
            revert ClaimWindowClosed(round, _currentRound);
        }
        Membership storage them = _members[uploader];
        if (them.status == Status.None) revert NotClaimable(round, msg.sender, uploader);
        (bytes32 key, uint256 shift) = _requestEntry(round, msg.sender, them.index);
        uint256 word = _requestWords[key];
        uint256 entry = (word >> shift) & _ENTRY_MASK;
        if (entry & _FULFILLED == 0 || entry & _DISPUTED != 0) {
            revert NotClaimable(round, msg.sender, uploader);
        }
        bytes32 digest = _provenDigest(round, uploader, previous, requesters, digests);
        _requestWords[key] = word | (_DISPUTED << shift);
        uint64 amount = uint64(entry & _AMOUNT_MASK);
        uint64 deposit = _claimDeposit;

        Account memory account = _accounts[msg.sender];
        _settleAccount(account, msg.sender);
        if (account.balance < deposit) {
            revert InsufficientPoints(msg.sender, account.balance, deposit);
        }
        // Checked just above; deposited stays below the total supply.
        unchecked {
            account.balance -= deposit;
            _locks[msg.sender].deposited += deposit;
        }
        _accounts[msg.sender] = account;
        // The delivery was fulfilled in this round, so its amount is part of the uploader's
        // pending payment of this round, which fines never touch: pending >= amount.
        unchecked {
            _accounts[uploader].pending -= amount;
            _locks[uploader].disputed += amount;
        }
        claimId = ++_claimCount;
        uint64 responseDeadline = uint64(block.number) + _responseBlocks;
        uint64 voteDeadline = responseDeadline + _voteBlocks;
        _claims[claimId] = Claim(
            msg.sender,
            uint32(round),
            kind,
            ClaimState.Filed,
            uploader,
            amount,
            responseDeadline,
            voteDeadline,
            digest,
            bytes32(0)
        );
        _claimOfDelivery[_deliveryKey(round, msg.sender, uploader)] = claimId;
        emit ClaimFiled(
            claimId,
            round,
            msg.sender,
            uploader,
            kind,
            digest,
            amount,
            deposit,
            responseDeadline,
            voteDeadline
        );
    }

    /// @notice Answer a Missing claim: declare that bytes matching the committed digest are
    /// published again, so that the credible parties can fetch and check them.
    /// @param claimId a Filed claim against msg.sender, before its response deadline.
    function declareRepublished(uint256 claimId) external onlyDelegated {
        _answer(claimId, true, bytes32(0));
    }

    /// @notice Answer an Undecryptable or Malformed claim: reveal the envelope's layer-2 key
    /// (the envelope commits to it), so that the credible parties can check layers 2-3 and
    /// the structure of layer 1, which stays masked.
    /// @param claimId a Filed claim against msg.sender, before its response deadline.
    /// @param key the envelope's 32-byte layer-2 (AES-256-GCM) key.
    function revealKey(uint256 claimId, bytes32 key) external onlyDelegated {
        _answer(claimId, false, key);
    }

    /// @notice Vote on an Answered claim: `upheld` if the uploader's response fails the check
    /// (the claim is true), false if it passes.
    /// @dev Only credible parties other than the two sides vote. The claim is resolved as soon
    /// as more than half of the eligible voters (see `claimTally`) agree.
    /// @param claimId an Answered claim, before its vote deadline.
    /// @param upheld whether the claim is true.
    function voteOnClaim(uint256 claimId, bool upheld) external onlyDelegated {
        _requireCredible(msg.sender);
        Claim storage c = _claim(claimId);
        if (msg.sender == c.requester || msg.sender == c.uploader) {
            revert ClaimSideCannotVote(claimId, msg.sender);
        }
        _requireClaimState(claimId, c, ClaimState.Answered);
        if (block.number >= c.voteDeadline) {
            revert ClaimDeadlinePassed(claimId, c.voteDeadline, block.number);
        }
        if (_claimVotes[claimId][msg.sender] != 0) revert AlreadyVotedOnClaim(claimId, msg.sender);
        _claimVotes[claimId][msg.sender] = upheld ? 1 : 2;
        _claimVoters[claimId].push(msg.sender);
        emit ClaimVoted(claimId, msg.sender, upheld);
        (uint256 up, uint256 down, uint256 eligible) = _tally(claimId);
        if (up * 2 > eligible) _resolve(claimId, c, true, ClaimResolution.Votes);
        else if (down * 2 > eligible) _resolve(claimId, c, false, ClaimResolution.Votes);
    }

    /// @notice Resolve a claim after its deadline: a Filed claim the uploader did not answer
    /// is upheld (against the silent side); an Answered claim is upheld only if more credible
    /// voters upheld than rejected it.
    /// @dev Anyone may call.
    /// @param claimId a claim past its response (Filed) or vote (Answered) deadline.
    function resolveClaim(uint256 claimId) external onlyDelegated {
        Claim storage c = _claim(claimId);
        ClaimState state = c.state;
        if (state == ClaimState.Filed && block.number >= c.responseDeadline) {
            _resolve(claimId, c, true, ClaimResolution.Silence);
        } else if (state == ClaimState.Answered && block.number >= c.voteDeadline) {
            (uint256 up, uint256 down,) = _tally(claimId);
            _resolve(claimId, c, up > down, ClaimResolution.Deadline);
        } else {
            uint64 deadline = state == ClaimState.Filed ? c.responseDeadline : c.voteDeadline;
            revert ClaimNotResolvable(claimId, state, deadline);
        }
    }

    /// @notice Give up an open claim: the requester withdraws it (the claim is rejected), or
    /// the uploader admits it (the claim is upheld).
    /// @param claimId a Filed or Answered claim of which msg.sender is a side.
    function concedeClaim(uint256 claimId) external onlyDelegated {
        Claim storage c = _claim(claimId);
        ClaimState state = c.state;
        if (state != ClaimState.Filed && state != ClaimState.Answered) {
            revert WrongClaimState(claimId, ClaimState.Answered, state);
        }
        if (msg.sender == c.requester) _resolve(claimId, c, false, ClaimResolution.Concession);
        else if (msg.sender == c.uploader) _resolve(claimId, c, true, ClaimResolution.Concession);
        else revert NotClaimSide(claimId, msg.sender);
    }

    // ======================================================================== internals

    /// The digest `uploader` committed for msg.sender in its UPLOAD of the current `round`,
    /// proven against its upload hash chain (its last UPLOAD is this round's).
    function _provenDigest(
        uint64 round,
        address uploader,
        bytes32 previous,
        address[] calldata requesters,
        bytes32[] calldata digests
    ) private view returns (bytes32) {
        uint256 count = requesters.length;
        if (count != digests.length || count > _maxParties) revert InvalidDeliveryProof(uploader);
        if (keccak256(abi.encode(previous, round, requesters, digests))
                != _uploadAccumulators[uploader]) {
            revert InvalidDeliveryProof(uploader);
        }
        for (uint256 j; j < count; ++j) {
            if (requesters[j] == msg.sender) return digests[j];
        }
        revert InvalidDeliveryProof(uploader);
    }

    function _requireClaimState(uint256 claimId, Claim storage c, ClaimState expected)
        private
        view
    {
        if (c.state != expected) revert WrongClaimState(claimId, expected, c.state);
    }

    function _answer(uint256 claimId, bool republished, bytes32 key) private {
        Claim storage c = _claim(claimId);
        if (msg.sender != c.uploader) revert NotClaimSide(claimId, msg.sender);
        _requireClaimState(claimId, c, ClaimState.Filed);
        if ((c.kind == ClaimKind.Missing) != republished) revert WrongClaimKind(claimId, c.kind);
        if (block.number >= c.responseDeadline) {
            revert ClaimDeadlinePassed(claimId, c.responseDeadline, block.number);
        }
        c.state = ClaimState.Answered;
        c.revealedKey = key;
        emit ClaimAnswered(claimId, msg.sender, key);
    }

    /// Settle claim `claimId` in points. Upheld: payment and deposit back to the requester,
    /// a fine of up to one deposit from the uploader's balance to it, and a report. Rejected:
    /// payment and the forfeited deposit to the uploader.
    function _resolve(uint256 claimId, Claim storage c, bool upheld, ClaimResolution cause)
        private
    {
        c.state = upheld ? ClaimState.Upheld : ClaimState.Rejected;
        address requester = c.requester;
        address uploader = c.uploader;
        uint64 payment = c.amount;
        uint64 deposit = _claimDeposit;
        // The claim locked exactly these amounts when it was filed, and only its resolution
        // (once) unlocks them; the receiving balance stays below the total supply < 2^61.
        unchecked {
            _locks[uploader].disputed -= payment;
            _locks[requester].deposited -= deposit;
        }
        uint64 fine;
        if (upheld) {
            Account memory theirs = _accounts[uploader];
            _settleAccount(theirs, uploader);
            fine = theirs.balance < deposit ? theirs.balance : deposit;
            // fine <= balance by construction; the requester's sum stays below the supply.
            unchecked {
                theirs.balance -= fine;
                _accounts[uploader] = theirs;
                _accounts[requester].balance += payment + deposit + fine;
            }
        } else {
            // As above: the uploader's balance stays below the supply.
            unchecked {
                _accounts[uploader].balance += payment + deposit;
            }
        }
        emit ClaimResolved(claimId, requester, uploader, upheld, cause, payment, deposit, fine);
        if (upheld) _recordClaimReport(claimId, c.round, requester, uploader);
    }

    /// Count an upheld claim as the requester's report of the uploader for the claim's round.
    function _recordClaimReport(uint256 claimId, uint64 epoch, address reporter, address suspect)
        private
    {
        if (_members[suspect].status != Status.Credible) return;
        if (_reported[epoch][suspect][reporter] != 0) return;
        _reported[epoch][suspect][reporter] = _BY_CLAIM;
        _reporters[epoch][suspect].push(reporter);
        emit ClaimCountedAsReport(claimId, epoch, reporter, suspect);
        _removeIfQuorum(epoch, suspect);
    }
}
