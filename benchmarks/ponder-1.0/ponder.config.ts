// The benchmark's Ponder 1.0.0 app: the test Mailer's mails, prepared mails and delegations on one anvil chain.
// Environment: PONDER_RPC_URL, MAILER_ADDRESS, END_BLOCK, DATABASE_URL (set by benchmarks/indexer_ponder.py).
import { createConfig } from "ponder";
import { http } from "viem";
import artifacts from "../../tests/chain/artifacts.json";

export default createConfig({
  database: { kind: "postgres", connectionString: process.env.DATABASE_URL },
  networks: {
    anvil: { chainId: 31337, transport: http(process.env.PONDER_RPC_URL), disableCache: true },
  },
  contracts: {
    Mailer: {
      network: "anvil",
      abi: artifacts.contracts.MailerEvents.abi as any,
      address: process.env.MAILER_ADDRESS as `0x${string}`,
      startBlock: 0,
      endBlock: Number(process.env.END_BLOCK),
    },
  },
});
