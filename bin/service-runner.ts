/**
 * Runs a started service until SIGTERM or SIGINT, then stops it cleanly and exits 0 (1 if the
 * stop failed); a second signal exits at once. Process concerns live here, not in the services.
 */
import type { FastifyInstance } from 'fastify';

export interface StoppableService {
  readonly app: FastifyInstance;
  stop(): Promise<void>;
}

export function runUntilSignalled(name: string, service: StoppableService): void {
  // Lifecycle lines are written at any log level: scripts and tests wait for them.
  const log = service.app.log.child({}, { level: 'info' });
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) process.exit(1);
    signalled = true;
    log.info({ signal }, `${name} stopping`);
    service.stop().then(
      () => {
        log.info(`${name} stopped`);
        process.exit(0);
      },
      (error: unknown) => {
        service.app.log.error({ err: error }, `${name} did not stop cleanly`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
