// The fake "epochd:job/host@1.0.0" (see hooks.js): the current MockEpoch's
// config; log lines go to state.logs.
import { state } from "./fake.js";
import { witHost } from "./mock.js";

export const { config, log } = witHost(() => state.epoch, state.logs);
