using System.Buffers.Binary;
using System.IO.Compression;

namespace GruService.Cli;

/// <summary>
/// Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) read as sequences: each 28×28 image is 28 time steps (rows) of 28
/// pixel features (0–255). Files as the Debian package dataset-fashion-mnist installs them (gzipped IDX).
/// </summary>
public sealed record FashionMnist(float[][] Images, int[] Labels)
{
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";
    public const int Side = 28;

    public static readonly string[] ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <param name="directory">Where the IDX files are.</param>
    /// <param name="part">"train" (60,000 images) or "t10k" (the 10,000 test images).</param>
    public static FashionMnist Load(string directory, string part)
    {
        string images = Path.Combine(directory, $"{part}-images-idx3-ubyte.gz"), labels = Path.Combine(directory, $"{part}-labels-idx1-ubyte.gz");
        if (!File.Exists(images) || !File.Exists(labels))
            throw new FileNotFoundException($"Fashion-MNIST is not in {directory}: install it with `apt-get install dataset-fashion-mnist`.", images);
        byte[] imageBytes = Gunzip(images), labelBytes = Gunzip(labels);
        Check(imageBytes, 0x00000803, "images");
        Check(labelBytes, 0x00000801, "labels");
        int count = BinaryPrimitives.ReadInt32BigEndian(imageBytes.AsSpan(4));
        if (BinaryPrimitives.ReadInt32BigEndian(labelBytes.AsSpan(4)) != count)
            throw new InvalidDataException($"{images} and {labels} hold different numbers of items.");
        var pixels = new float[count][];
        for (int i = 0; i < count; i++)
        {
            pixels[i] = new float[Side * Side];
            ReadOnlySpan<byte> raw = imageBytes.AsSpan(16 + i * Side * Side, Side * Side);
            for (int p = 0; p < raw.Length; p++) pixels[i][p] = raw[p];
        }
        return new FashionMnist(pixels, [.. labelBytes.AsSpan(8, count).ToArray().Select(b => (int)b)]);
    }

    private static byte[] Gunzip(string path)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        return memory.ToArray();
    }

    private static void Check(byte[] bytes, int magic, string what)
    {
        if (bytes.Length < 8 || BinaryPrimitives.ReadInt32BigEndian(bytes) != magic)
            throw new InvalidDataException($"The Fashion-MNIST {what} file is not an IDX file of the expected type.");
    }
}
