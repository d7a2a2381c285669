import { ponder } from "ponder:registry";
import { mails } from "ponder:schema";

ponder.on("Mailer:MailSent", async ({ event, context }) => {
  await context.db.insert(mails).values({
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
