// The reference producer: kafka-clients (the broker's own version) writing records aiomq reads.
// Usage: Produce <bootstrap> <topic> <count> <compression> [<transactional.id> <commit|abort>]
// Record i: key "k<i>", value "v<i>", timestamp <base> + i, headers h=x and n=null, partition
// i % partitions; <base> is a minute before the start (recent: records older than the topic's
// retention may be deleted by the broker's retention check before they are read). Prints
// "sent <count> from <base>" once every record is acknowledged.
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringSerializer;

public class Produce {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("compression.type", a[3]);
    p.put("linger.ms", "5");
    boolean txn = a.length > 4;
    if (txn) p.put("transactional.id", a[4]);
    long base = System.currentTimeMillis() - 60_000L;
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      int partitions = producer.partitionsFor(a[1]).size();
      int count = Integer.parseInt(a[2]);
      if (txn) {
        producer.initTransactions();
        producer.beginTransaction();
      }
      for (int i = 0; i < count; i++) {
        RecordHeaders headers = new RecordHeaders();
        headers.add("h", "x".getBytes());
        headers.add("n", null);
        producer.send(new ProducerRecord<>(a[1], i % partitions, base + i, "k" + i, "v" + i, headers));
      }
      if (txn && a[5].equals("commit")) producer.commitTransaction();
      else if (txn) producer.abortTransaction();
      producer.flush();
    }
    System.out.println("sent " + a[2] + " from " + base);
  }
}
