import { ponder } from "ponder:registry";
import { delegation, mail, preparedMail } from "ponder:schema";

const ZERO = "0x0000000000000000000000000000000000000000";

ponder.on("Mailer:MailSent", async ({ event, context }) => {
  await context.db.insert(mail).values({
    id: event.id,
    chainId: context.chain.id,
    sender: event.args.from,
    payer: event.args.payer,
    recipient: event.args.to,
    subject: event.args.subject,
    body: event.args.body,
    revenueShare: event.args.revenueShareToReceiver,
    resolveSenderToName: event.args.resolveSenderToName,
    feePaid: event.args.feePaid,
    blockNumber: event.block.number,
    blockHash: event.block.hash,
    timestamp: event.block.timestamp,
    transactionHash: event.transaction.hash,
    logIndex: event.log.logIndex,
  });
});

ponder.on("Mailer:PreparedMailSent", async ({ event, context }) => {
  await context.db.insert(preparedMail).values({
    id: event.id,
    chainId: context.chain.id,
    sender: event.args.from,
    payer: event.args.payer,
    recipient: event.args.to,
    mailId: event.args.mailId,
    revenueShare: event.args.revenueShareToReceiver,
    resolveSenderToName: event.args.resolveSenderToName,
    feePaid: event.args.feePaid,
    blockNumber: event.block.number,
    timestamp: event.block.timestamp,
    transactionHash: event.transaction.hash,
    logIndex: event.log.logIndex,
  });
});

ponder.on("Mailer:DelegationSet", async ({ event, context }) => {
  const row = {
    chainId: context.chain.id,
    delegate: event.args.delegate,
    isActive: event.args.delegate !== ZERO,
    blockNumber: event.block.number,
    timestamp: event.block.timestamp,
    transactionHash: event.transaction.hash,
  };
  await context.db
    .insert(delegation)
    .values({ id: event.args.delegator, ...row })
    .onConflictDoUpdate(row);
});
