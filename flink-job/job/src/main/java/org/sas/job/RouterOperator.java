package org.sas.job;

import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.operators.coordination.OperatorCoordinator;
import org.apache.flink.runtime.operators.coordination.OperatorEvent;
import org.apache.flink.runtime.operators.coordination.OperatorEventHandler;
import org.apache.flink.streaming.api.operators.CoordinatedOperatorFactory;
import org.apache.flink.streaming.api.operators.OneInputStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.ProcessOperator;
import org.apache.flink.streaming.api.operators.SimpleUdfStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;

import org.sas.job.loads.RouterLoadCoordinator;
import org.sas.job.loads.WorkerLoads;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router operator: runs a {@link RouterFunction} as {@code process()} would, and closes the router's
 * intervals with the workers' loads that its {@link RouterLoadCoordinator} sends ({@link WorkerLoads}).
 *
 * <p>Flink delivers an operator event through the task's mailbox, between two records, on the thread
 * that routes: the hand-over takes no lock and costs the record path nothing, and a router never waits
 * for loads. Which intervals the router takes is {@link RouterFunction#endInterval}'s decision.
 */
public final class RouterOperator extends ProcessOperator<Event, Event> implements OperatorEventHandler {

    private static final long serialVersionUID = 1L;

    private static final Logger LOG = LoggerFactory.getLogger(RouterOperator.class);

    private final RouterFunction router;

    public RouterOperator(RouterFunction router) {
        super(router);
        this.router = router;
    }

    @Override
    public void handleOperatorEvent(OperatorEvent event) {
        if (event instanceof WorkerLoads loads) {
            router.endInterval(loads.interval(), loads.loads());
        } else {
            LOG.warn("{}: unexpected event {}", router, event);
        }
    }

    @Override
    public String toString() {
        return router.toString();
    }

    /**
     * Builds the operator, registers it for its coordinator's events and names that coordinator; travels
     * with the job graph.
     */
    public static final class Factory extends SimpleUdfStreamOperatorFactory<Event>
            implements CoordinatedOperatorFactory<Event>, OneInputStreamOperatorFactory<Event, Event> {

        private static final long serialVersionUID = 1L;

        private final int workers;

        public Factory(RouterFunction router, int workers) {
            super(new RouterOperator(router));
            this.workers = workers;
        }

        @Override
        public <T extends StreamOperator<Event>> T createStreamOperator(StreamOperatorParameters<Event> parameters) {
            T operator = super.createStreamOperator(parameters);
            parameters.getOperatorEventDispatcher().registerEventHandler(
                    parameters.getStreamConfig().getOperatorID(), (RouterOperator) operator);
            return operator;
        }

        @Override
        public OperatorCoordinator.Provider getCoordinatorProvider(String operatorName, OperatorID operatorId) {
            return new RouterLoadCoordinator.Provider(operatorId, workers);
        }
    }
}
