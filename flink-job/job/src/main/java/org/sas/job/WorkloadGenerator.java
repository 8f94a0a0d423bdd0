package org.sas.job;

import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.connector.datagen.source.GeneratorFunction;

import org.sas.nativeloader.NativeRouter;

/**
 * Generates record {@code index} of the params' stream: key and event time from the Rust workload
 * generator, payload from {@link Payloads}. Any source subtask can generate any index.
 */
public class WorkloadGenerator implements GeneratorFunction<Long, Event> {

    private static final long serialVersionUID = 1L;

    private final JobParams params;
    private final boolean sentences;
    private transient long workload;
    private transient Payloads payloads;

    public WorkloadGenerator(JobParams params) {
        this.params = params;
        this.sentences = !params.task.equals("tdigest");
    }

    @Override
    public void open(SourceReaderContext readerContext) {
        NativeRouter.ensureLoaded();
        workload = NativeRouter.createWorkload(params.yaml);
        payloads = Payloads.of(params);
    }

    @Override
    public Event map(Long index) {
        Event e = new Event();
        e.index = index;
        e.key = NativeRouter.keyAt(workload, index);
        e.ts = NativeRouter.eventTime(workload, index);
        if (sentences) {
            e.sentence = payloads.sentence(index);
        } else {
            e.values = payloads.values(index);
        }
        return e;
    }

    @Override
    public void close() {
        if (workload != 0) {
            long closing = workload;
            workload = 0;
            NativeRouter.closeWorkload(closing);
        }
    }
}
