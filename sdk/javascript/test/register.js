// node --import ./test/register.js --test test/*.test.js: installs hooks.js.
import { register } from "node:module";

register("./hooks.js", import.meta.url);
