// Hostile job: reaches for the network with fetch. Built with
// componentize-js's `http` feature left on (the only way a JavaScript job
// can have a socket: the engine has no file or socket API of its own), so
// the component imports wasi:http, which epochd does not serve: it is
// refused at submission, naming those imports, before any run. World `job`.
export function run() {
  fetch("http://127.0.0.1:9/");
  return new TextEncoder().encode("{}");
}
