// The fake "epochd:job/epoch@1.0.0" (see hooks.js): the current MockEpoch.
import { state } from "./fake.js";
import { witEpoch } from "./mock.js";

const e = witEpoch(() => state.epoch);
export const { epoch, seq, rows, dc, findColumn, findContainer, Column, Container } = e;
