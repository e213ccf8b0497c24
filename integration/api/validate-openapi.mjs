// Validates an OpenAPI document (file path argument) with an independent validator.
// Exit 0 and print "valid" when it conforms; exit 1 with the errors otherwise.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";

const doc = JSON.parse(readFileSync(process.argv[2], "utf8"));
const validator = new Validator();
const res = await validator.validate(doc);
if (res.valid) {
  console.log(`valid OpenAPI ${validator.version}`);
  process.exit(0);
}
console.error(JSON.stringify(res.errors, null, 2));
process.exit(1);
