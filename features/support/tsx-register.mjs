// Cucumber loads step files as plain ESM; registering tsx first lets them be TypeScript.
import { register } from "tsx/esm/api"
register()
