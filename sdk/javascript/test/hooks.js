// Node module hooks for the SDK's unit tests: the WIT interfaces that
// componentize-js provides inside a component ("epochd:job/epoch@1.0.0",
// "epochd:job/host@1.0.0") resolve to the fakes beside this file.
const FAKES = {
  "epochd:job/epoch@1.0.0": "./wit-epoch.js",
  "epochd:job/host@1.0.0": "./wit-host.js",
};

export async function resolve(specifier, context, next) {
  const fake = FAKES[specifier];
  if (fake !== undefined) {
    return { url: new URL(fake, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
