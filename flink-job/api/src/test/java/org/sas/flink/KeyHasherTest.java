package org.sas.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.util.InstantiationUtil;

import org.sas.nativeloader.NativeRouter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/** The default key hashes: stable, and for strings the Rust router's own word key. */
class KeyHasherTest {

    /** A POJO key. */
    public static class Sensor {
        public String site;
        public int id;

        public Sensor() {}

        Sensor(String site, int id) {
            this.site = site;
            this.id = id;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Sensor && ((Sensor) o).site.equals(site) && ((Sensor) o).id == id;
        }

        @Override
        public int hashCode() {
            return Objects.hash(site, id);
        }
    }

    /** Not a POJO (no default constructor): Flink serializes it with Kryo. */
    public static class Opaque {
        final String name;

        Opaque(String name) {
            this.name = name;
        }
    }

    @Test
    void stringsHashAsTheRustTextWorkloadsWords(@TempDir Path dir) throws Exception {
        // The text workload lower-cases and splits at non-alphanumerics: these words are kept as written.
        List<String> words = List.of("the", "élan", "straße", "a", "pride_and_prejudice", "1813", "naïve", "x");
        Path text = dir.resolve("words.txt");
        Files.writeString(text, String.join(" ", words), StandardCharsets.UTF_8);
        String params = String.join("\n",
                "task: wordcount-text",
                "partitioner: hash",
                "workers: 2",
                "records: " + words.size(),
                "workload:",
                "  kind: text",
                "  text_path: " + text.toAbsolutePath(),
                "");
        NativeRouter.ensureLoaded();
        long workload = NativeRouter.createWorkload(params);
        try {
            for (int i = 0; i < words.size(); i++) {
                assertEquals(NativeRouter.keyAt(workload, i), KeyHasher.utf8().hash(words.get(i)),
                        "the key of `" + words.get(i) + "`");
            }
        } finally {
            NativeRouter.closeWorkload(workload);
        }
    }

    @Test
    void integralKeysAreTheirValue() {
        assertEquals(42L, KeyHasher.<Long>integral().hash(42L));
        assertEquals(-1L, KeyHasher.<Integer>integral().hash(-1));
        assertEquals(7L, forType(Types.SHORT).hash((short) 7));
        assertEquals(Long.MIN_VALUE, forType(Types.LONG).hash(Long.MIN_VALUE));
    }

    @Test
    void defaultsPickTheHashOfTheType() {
        assertEquals(KeyHasher.utf8().hash("hot"), forType(Types.STRING).hash("hot"));
        assertEquals(5L, forType(Types.INT).hash(5));
    }

    @Test
    void pojoAndTupleKeysHashTheirFieldsStably() throws Exception {
        KeyHasher<Sensor> sensors = forType(TypeInformation.of(Sensor.class));
        long a = sensors.hash(new Sensor("north", 3));
        assertEquals(a, sensors.hash(new Sensor("north", 3)), "equal keys, other instances");
        assertNotEquals(a, sensors.hash(new Sensor("north", 4)));
        assertNotEquals(a, sensors.hash(new Sensor("south", 3)));
        // Each subtask gets a deserialized copy: it must hash as the original.
        assertEquals(a, InstantiationUtil.clone(sensors).hash(new Sensor("north", 3)));

        KeyHasher<Tuple2<String, Long>> pairs = forType(Types.TUPLE(Types.STRING, Types.LONG));
        assertEquals(pairs.hash(Tuple2.of("x", 1L)), pairs.hash(Tuple2.of("x", 1L)));
        assertNotEquals(pairs.hash(Tuple2.of("x", 1L)), pairs.hash(Tuple2.of("x", 2L)));
    }

    @Test
    void kryoKeysNeedAHasherOfTheirOwn() {
        TypeInformation<Opaque> opaque = TypeInformation.of(Opaque.class);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> forType(opaque));
        assertTrue(e.getMessage().contains("Opaque") && e.getMessage().contains("keyHasher"), e.getMessage());
        IllegalArgumentException nested = assertThrows(IllegalArgumentException.class,
                () -> forType(Types.TUPLE(Types.STRING, opaque)));
        assertTrue(nested.getMessage().contains("Opaque"), nested.getMessage());
    }

    private static <K> KeyHasher<K> forType(TypeInformation<K> type) {
        return KeyHasher.forType(type, new SerializerConfigImpl());
    }
}
