/** Command-line options of the benches that take them: `--name value` numbers and bare `--flag`s. */

/** `--name N`, or `fallback` when absent. */
export const numberArg = (name: string, fallback: number, argv = process.argv): number => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? Number(argv[i + 1]) : fallback
}

/** Whether `--name` was given. */
export const flagArg = (name: string, argv = process.argv): boolean => argv.includes(`--${name}`)
