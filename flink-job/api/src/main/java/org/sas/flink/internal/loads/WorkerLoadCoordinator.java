package org.sas.flink.internal.loads;

import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEvent;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;

/**
 * The JobManager side of the {@link WorkerLoadOperator}s: each worker subtask's {@link WorkerLoadReport}
 * goes onto the job's {@link LoadBoard} as the busy ratio of that worker (the subtask index is the
 * worker index).
 *
 * <p>It keeps no state worth a checkpoint: a load is only of use for the interval it measures.
 */
public final class WorkerLoadCoordinator implements OperatorCoordinator {

    private static final Logger LOG = LoggerFactory.getLogger(WorkerLoadCoordinator.class);

    private final Context context;
    private final int workers;
    private LoadBoard board;

    private WorkerLoadCoordinator(Context context, int workers) {
        this.context = context;
        this.workers = workers;
    }

    @Override
    public void start() {
        board = LoadBoard.of(context.getCoordinatorStore(), workers);
    }

    @Override
    public void close() {}

    @Override
    public void handleEventFromOperator(int subtask, int attemptNumber, OperatorEvent event) {
        if (event instanceof WorkerLoadReport report) {
            board.report(subtask, report.interval(), report.busyRatio());
        } else {
            LOG.warn("worker {}: unexpected event {}", subtask, event);
        }
    }

    @Override
    public void checkpointCoordinator(long checkpointId, CompletableFuture<byte[]> result) {
        result.complete(new byte[0]);
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {}

    @Override
    public void resetToCheckpoint(long checkpointId, byte[] checkpointData) {
        if (board != null) {
            board.clearPending();
        }
    }

    @Override
    public void subtaskReset(int subtask, long checkpointId) {}

    @Override
    public void executionAttemptFailed(int subtask, int attemptNumber, Throwable reason) {}

    @Override
    public void executionAttemptReady(int subtask, int attemptNumber, SubtaskGateway gateway) {}

    /** Creates the coordinator of the workers' load operator; travels with the job graph. */
    public static final class Provider implements OperatorCoordinator.Provider {
        private static final long serialVersionUID = 1L;

        private final OperatorID operatorId;
        private final int workers;

        public Provider(OperatorID operatorId, int workers) {
            this.operatorId = operatorId;
            this.workers = workers;
        }

        @Override
        public OperatorID getOperatorId() {
            return operatorId;
        }

        @Override
        public OperatorCoordinator create(Context context) {
            return new WorkerLoadCoordinator(context, workers);
        }
    }
}
