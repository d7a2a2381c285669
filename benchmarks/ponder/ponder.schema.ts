import { onchainTable } from "ponder";

// The same facts chainmail's evm_mails keeps for a MailSent log.
export const mails = onchainTable("mails", (t) => ({
  id: t.text().primaryKey(),
  chainId: t.integer().notNull(),
  sender: t.hex().notNull(),
  payer: t.hex().notNull(),
  recipient: t.hex().notNull(),
  subject: t.text().notNull(),
  body: t.text().notNull(),
  revenueShare: t.boolean().notNull(),
  resolveSenderToName: t.boolean().notNull(),
  feePaid: t.boolean().notNull(),
  blockNumber: t.bigint().notNull(),
  blockHash: t.hex().notNull(),
  timestamp: t.bigint().notNull(),
  transactionHash: t.hex().notNull(),
  logIndex: t.integer().notNull(),
}));
