// The epoch the fake interfaces serve: setEpoch(new MockEpoch({...})).
export const state = { epoch: null, logs: [] };

/** Serves `mock` to the SDK from now on; empties the log. */
export function setEpoch(mock) {
  state.epoch = mock;
  state.logs.length = 0;
}
