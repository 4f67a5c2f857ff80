// The reference consumer: kafka-clients reading what aiomq wrote.
// Usage: Consume <bootstrap> <topic> <read_committed|read_uncommitted> <count> <seconds>
// Reads every partition from the start (no group) until <count> records arrived or <seconds>
// passed, and prints one line per record: "<partition> <offset> <key> <value> <timestamp>
// <header names>". With more records than <count> available, it may print a few more.
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;

public class Consume {
  public static void main(String[] a) {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("isolation.level", a[2]);
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (var info : c.partitionsFor(a[1])) tps.add(new TopicPartition(a[1], info.partition()));
      c.assign(tps);
      c.seekToBeginning(tps);
      int want = Integer.parseInt(a[3]);
      int got = 0;
      long end = System.currentTimeMillis() + Long.parseLong(a[4]) * 1000;
      while (got < want && System.currentTimeMillis() < end) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
          got++;
          StringBuilder names = new StringBuilder();
          for (Header h : r.headers()) names.append(h.key()).append(h.value() == null ? "=null," : ",");
          System.out.println(r.partition() + " " + r.offset() + " " + r.key() + " " + r.value()
              + " " + r.timestamp() + " " + names);
        }
      }
    }
  }
}
