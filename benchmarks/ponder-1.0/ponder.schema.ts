import { onchainTable } from "ponder";

// Exported in the singular: Ponder names the GraphQL plural field by appending an "s" (`mail` -> `mails`).
// The facts chainmail keeps for the dense benchmark chain's three events: mails, prepared mails, and each
// delegator's current delegation (an upsert per DelegationSet).
export const mail = onchainTable("mails", (t) => ({
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

export const preparedMail = onchainTable("prepared_mails", (t) => ({
  id: t.text().primaryKey(),
  chainId: t.integer().notNull(),
  sender: t.hex().notNull(),
  payer: t.hex().notNull(),
  recipient: t.hex().notNull(),
  mailId: t.hex().notNull(),
  revenueShare: t.boolean().notNull(),
  resolveSenderToName: t.boolean().notNull(),
  feePaid: t.boolean().notNull(),
  blockNumber: t.bigint().notNull(),
  timestamp: t.bigint().notNull(),
  transactionHash: t.hex().notNull(),
  logIndex: t.integer().notNull(),
}));

export const delegation = onchainTable("delegations", (t) => ({
  id: t.hex().primaryKey(),
  chainId: t.integer().notNull(),
  delegate: t.hex().notNull(),
  isActive: t.boolean().notNull(),
  blockNumber: t.bigint().notNull(),
  timestamp: t.bigint().notNull(),
  transactionHash: t.hex().notNull(),
}));
