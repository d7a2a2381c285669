// The benchmark's Ponder 0.16 app: the test Mailer's mails, prepared mails and delegations on one anvil chain.
// Environment: PONDER_RPC_URL, MAILER_ADDRESS, END_BLOCK, DATABASE_URL (set by benchmarks/indexer_ponder.py).
import { createConfig } from "ponder";
import artifacts from "../../tests/chain/artifacts.json";

export default createConfig({
  database: { kind: "postgres", connectionString: process.env.DATABASE_URL },
  chains: {
    anvil: { id: 31337, rpc: process.env.PONDER_RPC_URL, disableCache: true },
  },
  contracts: {
    Mailer: {
      chain: "anvil",
      abi: artifacts.contracts.MailerEvents.abi as any,
      address: process.env.MAILER_ADDRESS as `0x${string}`,
      startBlock: 0,
      endBlock: Number(process.env.END_BLOCK),
    },
  },
});
