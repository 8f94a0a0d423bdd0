package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.NumberSequenceIterator;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Stream positions of the source's sequence numbers when several subtasks generate them. */
class WorkloadGeneratorTest {

    @Test
    void eachOfFlinksRangesBecomesOneInterleavedLaneOfTheStream() {
        for (long count : new long[] {1, 7, 10, 1000, 1003}) {
            for (int splits : new int[] {1, 2, 3, 4}) {
                // The ranges Flink's generator source hands its subtasks.
                NumberSequenceIterator[] ranges = new NumberSequenceIterator(0, count - 1).split(splits);
                BitSet seen = new BitSet();
                for (int j = 0; j < ranges.length; j++) {
                    long k = 0;
                    while (ranges[j].hasNext()) {
                        long position = WorkloadGenerator.interleaved(ranges[j].next(), count, splits);
                        assertEquals(k * splits + j, position, "range " + j + " offset " + k);
                        assertTrue(position >= 0 && position < count, "position " + position + " of " + count);
                        assertTrue(!seen.get((int) position), "position " + position + " twice");
                        seen.set((int) position);
                        k++;
                    }
                }
                assertEquals(count, seen.cardinality(), count + " records in " + splits + " ranges");
            }
        }
    }

    @Test
    void oneSubtaskReadsTheStreamInOrder() {
        for (long i = 0; i < 100; i++) {
            assertEquals(i, WorkloadGenerator.interleaved(i, 100, 1));
        }
    }

    /** Emits (source subtask, stream position) for each sequence number. */
    private static final class Lanes implements GeneratorFunction<Long, long[]> {
        private final long count;
        private final int splits;
        private transient int subtask;

        Lanes(long count, int splits) {
            this.count = count;
            this.splits = splits;
        }

        @Override
        public void open(SourceReaderContext readerContext) {
            subtask = readerContext.getIndexOfSubtask();
        }

        @Override
        public long[] map(Long index) {
            return new long[] {subtask, WorkloadGenerator.interleaved(index, count, splits)};
        }
    }

    @Test
    void flinksGeneratorSourceSubtasksEachEmitOneLaneInOrder() throws Exception {
        long count = 10_001;
        int splits = 2;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataGeneratorSource<long[]> source =
                new DataGeneratorSource<>(new Lanes(count, splits), count, TypeInformation.of(long[].class));
        Map<Long, List<Long>> bySubtask = new HashMap<>();
        try (CloseableIterator<long[]> it = env.fromSource(source, WatermarkStrategy.noWatermarks(), "lanes")
                .setParallelism(splits)
                .executeAndCollect()) {
            it.forEachRemaining(r -> bySubtask.computeIfAbsent(r[0], k -> new ArrayList<>()).add(r[1]));
        }
        assertEquals(splits, bySubtask.size(), "every subtask emits");
        long total = 0;
        for (List<Long> positions : bySubtask.values()) {
            // Subtask j emits j, j + p, j + 2p ...: the subtasks stay together in the stream.
            long lane = positions.get(0);
            for (int k = 0; k < positions.size(); k++) {
                assertEquals(k * splits + lane, positions.get(k), "offset " + k + " of lane " + lane);
            }
            total += positions.size();
        }
        assertEquals(count, total);
    }
}
