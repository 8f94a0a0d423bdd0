package org.sas.job;

import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.connector.datagen.source.GeneratorFunction;

import org.sas.nativeloader.NativeRouter;

/**
 * Generates record {@code index} of the params' stream: key and event time from the Rust workload
 * generator, payload from {@link Payloads}. Any source subtask can generate any index.
 *
 * <p>With several source subtasks ({@code routers}), Flink's generator source gives each a contiguous
 * range of the sequence numbers; read as stream positions, one subtask's records would be far ahead of
 * the other's in event time, and every window would wait for the slowest. So sequence number i is the
 * stream position {@link #interleaved}: subtask j emits positions j, j + p, j + 2p ..., and p subtasks
 * emitting at one pace stay together in event time.
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
        long position = interleaved(index, params.records, params.routers);
        e.index = index;
        e.key = NativeRouter.keyAt(workload, position);
        e.ts = NativeRouter.eventTime(workload, position);
        if (sentences) {
            e.sentence = payloads.sentence(position);
        } else {
            e.values = payloads.values(position);
        }
        return e;
    }

    /**
     * The stream position of sequence number {@code index} of {@code count}, split into {@code splits}
     * contiguous ranges as Flink's {@code NumberSequenceIterator.split} does (the first {@code count %
     * splits} ranges one longer): offset k of range j is position k × splits + j. A bijection of
     * [0, count); the identity for one split.
     */
    static long interleaved(long index, long count, int splits) {
        if (splits <= 1 || index < 0 || index >= count) {
            return index;
        }
        long size = count / splits;
        long longer = count - size * splits; // ranges of size + 1, first
        long boundary = longer * (size + 1);
        long range;
        long offset;
        if (index < boundary) {
            range = index / (size + 1);
            offset = index % (size + 1);
        } else {
            range = longer + (index - boundary) / size;
            offset = (index - boundary) % size;
        }
        return offset * splits + range;
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
