import { setDefaultTimeout } from "@cucumber/cucumber"

// Steps start real programs, databases and containers; on a loaded 2-core machine a program's start alone can take
// longer than cucumber's 5 s default. Steps that wait for something longer still set their own timeout.
setDefaultTimeout(60_000)
