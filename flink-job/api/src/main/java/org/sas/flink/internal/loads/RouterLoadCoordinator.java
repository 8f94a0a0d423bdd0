package org.sas.flink.internal.loads;

import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEvent;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The JobManager side of the router operator: subscribes to the job's {@link LoadBoard} and sends each
 * complete interval ({@link WorkerLoads}) to every router subtask that is running. Sending never waits;
 * an event for a router that has finished is dropped by Flink (the event is loss-tolerant).
 *
 * <p>It keeps no state worth a checkpoint: a load is only of use for the interval it measures.
 */
public final class RouterLoadCoordinator implements OperatorCoordinator {

    private static final Logger LOG = LoggerFactory.getLogger(RouterLoadCoordinator.class);

    private final Context context;
    private final int workers;
    /** The running attempt of each router subtask. */
    private final Map<Integer, SubtaskGateway> routers = new ConcurrentHashMap<>();
    private final Consumer<WorkerLoads> sender = this::send;
    private LoadBoard board;

    private RouterLoadCoordinator(Context context, int workers) {
        this.context = context;
        this.workers = workers;
    }

    @Override
    public void start() {
        board = LoadBoard.of(context.getCoordinatorStore(), workers);
        board.subscribe(sender);
    }

    @Override
    public void close() {
        if (board != null) {
            board.unsubscribe(sender);
        }
        routers.clear();
    }

    private void send(WorkerLoads loads) {
        routers.forEach((subtask, gateway) -> {
            try {
                gateway.sendEvent(loads);
            } catch (RuntimeException e) {
                // The gateway refuses before the subtask runs; the next interval will find it ready.
                LOG.debug("router {}: loads of interval {} not sent", subtask, loads.interval(), e);
            }
        });
    }

    @Override
    public void handleEventFromOperator(int subtask, int attemptNumber, OperatorEvent event) {
        LOG.warn("router {}: unexpected event {}", subtask, event);
    }

    @Override
    public void checkpointCoordinator(long checkpointId, CompletableFuture<byte[]> result) {
        result.complete(new byte[0]);
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {}

    @Override
    public void resetToCheckpoint(long checkpointId, byte[] checkpointData) {}

    @Override
    public void subtaskReset(int subtask, long checkpointId) {}

    @Override
    public void executionAttemptFailed(int subtask, int attemptNumber, Throwable reason) {
        routers.computeIfPresent(subtask,
                (s, gateway) -> gateway.getExecution().getAttemptNumber() == attemptNumber ? null : gateway);
    }

    @Override
    public void executionAttemptReady(int subtask, int attemptNumber, SubtaskGateway gateway) {
        routers.put(subtask, gateway);
    }

    /** Creates the coordinator of the router operator; travels with the job graph. */
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
            return new RouterLoadCoordinator(context, workers);
        }
    }
}
