// SPDX-License-Identifier: MIT
// A stand-in for the Mailer contract in tests: the same events (current and older ABIs), emitted by
// functions with the Mailer's argument lists, so the indexer sees real logs and real transaction input.
// It moves no money; `feePaid` is a plain argument so tests can produce unpaid sends.
pragma solidity ^0.8.20;

contract MailerEvents {
    // -- current ABI (since 2025-11-26) --
    event MailSent(address indexed from, address payer, address indexed to, string subject, string body,
        bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid);
    event PreparedMailSent(address indexed from, address payer, address indexed to, string indexed mailId,
        bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid);
    event MailSentToEmail(address indexed from, address payer, string toEmail, string subject, string body, bool feePaid);
    event PreparedMailSentToEmail(address indexed from, address payer, string toEmail, string indexed mailId, bool feePaid);
    event WebhookMailSent(address indexed from, address payer, address indexed to, string indexed webhookId,
        bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid);
    event DelegationSet(address indexed delegator, address indexed delegate);
    event DelegationFeeUpdated(uint256 oldFee, uint256 newFee);
    event FeeUpdated(uint256 oldFee, uint256 newFee);
    event SharesRecorded(address indexed recipient, uint256 recipientAmount, uint256 ownerAmount);
    event RecipientClaimed(address indexed recipient, uint256 amount);
    event OwnerClaimed(uint256 amount);
    event ExpiredSharesClaimed(address indexed recipient, uint256 amount);
    event ContractPaused();
    event ContractUnpaused();
    event EmergencyUnpaused();
    event FeePauseToggled(bool feePaused);
    event FundsDistributed(address indexed recipient, uint256 amount);
    event CustomFeePercentageSet(address indexed account, uint256 percentage);
    event PermissionGranted(address indexed contractAddress, address indexed wallet);
    event PermissionRevoked(address indexed contractAddress, address indexed wallet);

    uint256 public sendFee = 100000;
    uint256 public delegationFee = 10000000;

    function send(address to, string calldata subject, string calldata body, address payer,
        bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid) external {
        emit MailSent(msg.sender, payer, to, subject, body, revenueShareToReceiver, resolveSenderToName, feePaid);
        if (revenueShareToReceiver && feePaid) {
            emit SharesRecorded(to, sendFee * 9 / 10, sendFee / 10);
        }
    }

    function sendPrepared(address to, string calldata mailId, address payer, bool revenueShareToReceiver,
        bool resolveSenderToName) external {
        emit PreparedMailSent(msg.sender, payer, to, mailId, revenueShareToReceiver, resolveSenderToName, true);
    }

    function sendToEmail(string calldata toEmail, string calldata subject, string calldata body, address payer)
        external {
        emit MailSentToEmail(msg.sender, payer, toEmail, subject, body, true);
    }

    function sendPreparedToEmail(string calldata toEmail, string calldata mailId, address payer) external {
        emit PreparedMailSentToEmail(msg.sender, payer, toEmail, mailId, true);
    }

    function sendThroughWebhook(address to, string calldata webhookId, address payer, bool revenueShareToReceiver,
        bool resolveSenderToName) external {
        emit WebhookMailSent(msg.sender, payer, to, webhookId, revenueShareToReceiver, resolveSenderToName, true);
    }

    function delegateTo(address delegate) external {
        emit DelegationSet(msg.sender, delegate);
    }

    // As in the Mailer: anyone may call it, the event names the delegator, and nothing is checked on chain.
    function rejectDelegation(address delegatingAddress) external {
        emit DelegationSet(delegatingAddress, address(0));
    }

    function setFee(uint256 newFee) external {
        emit FeeUpdated(sendFee, newFee);
        sendFee = newFee;
    }

    function setDelegationFee(uint256 newFee) external {
        emit DelegationFeeUpdated(delegationFee, newFee);
        delegationFee = newFee;
    }

    function claimRecipientShare(uint256 amount) external {
        emit RecipientClaimed(msg.sender, amount);
    }

    function claimOwnerShare(uint256 amount) external {
        emit OwnerClaimed(amount);
    }

    function claimExpiredShares(address recipient, uint256 amount) external {
        emit ExpiredSharesClaimed(recipient, amount);
    }

    function pause() external {
        emit ContractPaused();
    }

    function unpause() external {
        emit ContractUnpaused();
    }

    function emergencyUnpause() external {
        emit EmergencyUnpaused();
    }

    function setFeePaused(bool feePaused) external {
        emit FeePauseToggled(feePaused);
    }

    function distributeClaimableFunds(address recipient, uint256 amount) external {
        emit FundsDistributed(recipient, amount);
    }

    function setCustomFeePercentage(address account, uint256 percentage) external {
        emit CustomFeePercentageSet(account, percentage);
    }

    function setPermission(address contractAddress, bool granted) external {
        if (granted) {
            emit PermissionGranted(contractAddress, msg.sender);
        } else {
            emit PermissionRevoked(contractAddress, msg.sender);
        }
    }

    // Many mails in one transaction: for benchmarks that need a long chain quickly.
    function sendMany(address to, string calldata subject, uint256 count) external {
        for (uint256 i = 0; i < count; i++) {
            emit MailSent(msg.sender, msg.sender, to, subject, "", false, false, true);
        }
    }

    // A dense chain's transaction for benchmarks: mails, prepared mails, and delegations of the wallets
    // numbered from `firstDelegator` (to `to`, or cleared by a zero `to`), in one transaction.
    function sendMix(address to, string calldata subject, string calldata mailId, uint256 mails, uint256 prepared,
        uint256 delegations, uint256 firstDelegator) external {
        for (uint256 i = 0; i < mails; i++) {
            emit MailSent(msg.sender, msg.sender, to, subject, "", false, false, true);
        }
        for (uint256 i = 0; i < prepared; i++) {
            emit PreparedMailSent(msg.sender, msg.sender, to, mailId, false, false, true);
        }
        for (uint256 i = 0; i < delegations; i++) {
            emit DelegationSet(address(uint160(firstDelegator + i)), to);
        }
    }
}

// The events of the older Mailer ABIs, which the same proxy addresses emitted before upgrades.
contract LegacyMailerEvents {
    // 2025-11-15 (bb7697f): feePaid, no payer
    event MailSent(address indexed from, address indexed to, string subject, string body,
        bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid);
    event PreparedMailSent(address indexed from, address indexed to, string indexed mailId,
        bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid);
    event MailSentToEmail(address indexed from, string toEmail, string subject, string body, bool feePaid);
    event PreparedMailSentToEmail(address indexed from, string toEmail, string indexed mailId, bool feePaid);
    event WebhookMailSent(address indexed from, address indexed to, string indexed webhookId,
        bool revenueShareToReceiver, bool resolveSenderToName, bool feePaid);

    function send(address to, string calldata subject, string calldata body, bool revenueShareToReceiver,
        bool resolveSenderToName, bool feePaid) external {
        emit MailSent(msg.sender, to, subject, body, revenueShareToReceiver, resolveSenderToName, feePaid);
    }

    function sendPrepared(address to, string calldata mailId, bool revenueShareToReceiver, bool resolveSenderToName)
        external {
        emit PreparedMailSent(msg.sender, to, mailId, revenueShareToReceiver, resolveSenderToName, true);
    }

    function sendToEmail(string calldata toEmail, string calldata subject, string calldata body) external {
        emit MailSentToEmail(msg.sender, toEmail, subject, body, true);
    }

    function sendPreparedToEmail(string calldata toEmail, string calldata mailId) external {
        emit PreparedMailSentToEmail(msg.sender, toEmail, mailId, true);
    }

    function sendThroughWebhook(address to, string calldata webhookId, bool revenueShareToReceiver,
        bool resolveSenderToName) external {
        emit WebhookMailSent(msg.sender, to, webhookId, revenueShareToReceiver, resolveSenderToName, true);
    }
}

// 2025-10-07..11-13: no feePaid, no payer.
contract OldestMailerEvents {
    event MailSent(address indexed from, address indexed to, string subject, string body,
        bool revenueShareToReceiver, bool resolveSenderToName);
    event PreparedMailSent(address indexed from, address indexed to, string indexed mailId,
        bool revenueShareToReceiver, bool resolveSenderToName);
    event MailSentToEmail(address indexed from, string toEmail, string subject, string body);
    event PreparedMailSentToEmail(address indexed from, string toEmail, string indexed mailId);
    event WebhookMailSent(address indexed from, address indexed to, string indexed webhookId,
        bool revenueShareToReceiver, bool resolveSenderToName);

    function send(address to, string calldata subject, string calldata body, bool revenueShareToReceiver,
        bool resolveSenderToName) external {
        emit MailSent(msg.sender, to, subject, body, revenueShareToReceiver, resolveSenderToName);
    }

    function sendPrepared(address to, string calldata mailId, bool revenueShareToReceiver, bool resolveSenderToName)
        external {
        emit PreparedMailSent(msg.sender, to, mailId, revenueShareToReceiver, resolveSenderToName);
    }

    function sendToEmail(string calldata toEmail, string calldata subject, string calldata body) external {
        emit MailSentToEmail(msg.sender, toEmail, subject, body);
    }

    function sendPreparedToEmail(string calldata toEmail, string calldata mailId) external {
        emit PreparedMailSentToEmail(msg.sender, toEmail, mailId);
    }

    function sendThroughWebhook(address to, string calldata webhookId, bool revenueShareToReceiver,
        bool resolveSenderToName) external {
        emit WebhookMailSent(msg.sender, to, webhookId, revenueShareToReceiver, resolveSenderToName);
    }
}

// The 3DNS token's registration events (Optimism `ThreeDNSToken`) and ERC-1155 TransferSingle.
contract ThreeDNSEvents {
    event RegistrationCreated(bytes32 indexed node, bytes32 indexed tld, bytes fqdn, address registrant,
        uint32 controlBitmap, uint64 expiry);
    event RegistrationExtended(bytes32 indexed node, uint64 indexed duration, uint64 indexed newExpiry);
    event RegistrationTransferred(bytes32 indexed node, address indexed newOwner, address indexed operator);
    event TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id,
        uint256 value);

    function register(bytes32 node, bytes32 tld, bytes calldata fqdn, address registrant, uint64 expiry) external {
        emit RegistrationCreated(node, tld, fqdn, registrant, 0, expiry);
        emit TransferSingle(msg.sender, address(0), registrant, uint256(node), 1);
    }

    function extend(bytes32 node, uint64 duration, uint64 newExpiry) external {
        emit RegistrationExtended(node, duration, newExpiry);
    }

    function transfer(bytes32 node, address from, address newOwner) external {
        emit RegistrationTransferred(node, newOwner, msg.sender);
        emit TransferSingle(msg.sender, from, newOwner, uint256(node), 1);
    }
}

// A contract wallet (EIP-1271): a signature is valid when its deployer's key made it.
contract ContractWallet {
    address public owner;

    constructor() {
        owner = msg.sender;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) return 0xffffffff;
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        return ecrecover(hash, v, r, s) == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

// ENS for tests: a resolver of forward (addr) and reverse (name) records, and a universal resolver that
// web3's ENS asks (placed at the mainnet universal resolver's address with anvil_setCode) forwarding to it.
contract TestResolver {
    mapping(bytes32 => address) private addrs;
    mapping(bytes32 => string) private names;

    function setAddr(bytes32 node, address a) external {
        addrs[node] = a;
    }

    function setName(bytes32 node, string calldata n) external {
        names[node] = n;
    }

    function addr(bytes32 node) external view returns (address) {
        require(addrs[node] != address(0), "no addr record");
        return addrs[node];
    }

    function name(bytes32 node) external view returns (string memory) {
        require(bytes(names[node]).length > 0, "no name record");
        return names[node];
    }
}

contract TestUniversalResolver {
    address public target;

    function setTarget(address t) external {
        target = t;
    }

    function resolve(bytes calldata, bytes calldata data) external view returns (bytes memory, address) {
        (bool ok, bytes memory result) = target.staticcall(data);
        require(ok, "resolver call failed");
        return (result, target);
    }
}
