/**
 * Per-scenario state for one suite's steps, keyed by the cucumber World (one world is shared by all suites, so no
 * property of it is claimed); `initial` makes a scenario's state on first use.
 */
export class ScenarioStates<S> {
  private readonly states = new WeakMap<object, S>()
  constructor(private readonly initial: () => S) {}

  of(world: object): S {
    let state = this.states.get(world)
    if (state === undefined) {
      state = this.initial()
      this.states.set(world, state)
    }
    return state
  }

  /** The state, if the scenario made one. */
  get(world: object): S | undefined {
    return this.states.get(world)
  }

  delete(world: object): void {
    this.states.delete(world)
  }
}
