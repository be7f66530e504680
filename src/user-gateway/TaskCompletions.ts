import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, Layer, PubSub, Queue, Schedule, Stream } from "effect"

/**
 * Waits for tasks to finish. One `LISTEN cynode_tasks` per process (the tasks trigger NOTIFYs a task id when it
 * reaches a terminal status) fans out to every waiter; a slow poll covers notifications lost while reconnecting.
 */
export const TASKS_CHANNEL = "cynode_tasks"
const POLL_EVERY = Duration.seconds(2)

export class TaskCompletions extends Context.Tag("cynode/user-gateway/TaskCompletions")<TaskCompletions, {
  /** Returns once `isDone` holds or `taskId` is announced finished, or after `within`, whichever comes first. */
  readonly await: (taskId: string, isDone: Effect.Effect<boolean>, within: Duration.DurationInput) => Effect.Effect<void>
}>() {
  static readonly Live = Layer.scoped(
    TaskCompletions,
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const finished = yield* PubSub.unbounded<string>()
      yield* pg.listen(TASKS_CHANNEL).pipe(
        Stream.runForEach((taskId) => PubSub.publish(finished, taskId)),
        Effect.tapErrorCause((cause) => Effect.logWarning("LISTEN cynode_tasks failed; retrying", cause)),
        Effect.retry(Schedule.exponential("500 millis").pipe(Schedule.union(Schedule.spaced("10 seconds")))),
        Effect.forkScoped
      )
      return {
        await: (taskId, isDone, within) =>
          Effect.scoped(
            Effect.gen(function*() {
              const announcements = yield* PubSub.subscribe(finished)
              if (yield* isDone) return
              const announced = Queue.take(announcements).pipe(Effect.repeat({ until: (id) => id === taskId }))
              const polled = isDone.pipe(Effect.repeat({ schedule: Schedule.spaced(POLL_EVERY), until: (done) => done }))
              yield* Effect.race(announced, polled).pipe(Effect.timeout(within), Effect.ignore)
            })
          ).pipe(Effect.withSpan("TaskCompletions.await"))
      }
    })
  )
}
